"""One head of causal self-attention over a sequence of 3 tokens, tokens as columns.

An example is a 2 x 3 matrix X (2 features, 3 tokens).  The head computes
Q = W_Q X, K = W_K X, V = W_V X, the scores S = K^T Q / sqrt(d_k) (key by
query), masks the future (a causal mask M, given as an input: key i is seen by
query j when i <= j), normalises every column with softmax (P) and mixes the
values, O = V P.  A linear read-out and softmax give each token's class.  The
notes take the chain rule through P and S, where the softmax rule gives
dS = P (.) (dP - 1 1^T (P (.) dP)).

    python examples/attention.py [--outdir DIR]       # notes (.tex, .md, .pdf) and attention_train.py
"""

import sympy as sp

import symprop

T, d, d_k = 3, 2, 2
X, Y, M = sp.MatrixSymbol("X", d, T), sp.MatrixSymbol("Y", 2, T), sp.MatrixSymbol("M", T, T)
W_Q, W_K, W_V = (sp.MatrixSymbol(name, d_k, d) for name in ("W_Q", "W_K", "W_V"))
W_o = sp.MatrixSymbol("W_o", 2, d_k)

heads = symprop.attention(X, W_Q, W_K, W_V, mask=M)  # O = V P, one column per token
Yhat = symprop.softmax(W_o * heads)
net = symprop.Network(symprop.cross_entropy(Yhat, Y), params=[W_Q, W_K, W_V, W_o], inputs=[X, M], targets=[Y],
                      name="causal attention head")

VALUES = {
    X: [[1.0, 0.0, -1.0], [0.5, 1.0, 0.0]],
    M: symprop.causal_mask(T).tolist(),
    Y: [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
    W_Q: [[0.4, -0.2], [0.1, 0.3]],
    W_K: [[0.2, 0.1], [-0.3, 0.5]],
    W_V: [[0.5, 0.0], [0.1, -0.4]],
    W_o: [[0.3, -0.5], [-0.2, 0.4]],
}

if __name__ == "__main__":
    from symprop.render import notes_main

    notes_main(net, __file__, values=VALUES, learning_rate=0.1, code=True)
