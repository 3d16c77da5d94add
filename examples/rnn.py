"""A tanh RNN through time: lecture notes of backpropagation through time, and its training code.

h_t = tanh(W h_{t-1} + U x_t + b), yhat_t = V h_t + c, over T = 12 steps, the
loss (MSE) at the last step.  The notes state the recursion
delta_t = (W^T delta_{t+1}) * (1 - h_t * h_t) once for every t, sum the
gradients over t, and measure how ||delta_t|| shrinks or grows back through
time with small and large recurrent weights (a table and a plot); the update
rule clips the gradient by its global norm.

    symprop derive examples/rnn.py --tex notes.tex --pdf
    python examples/rnn.py [--outdir DIR] [--force]

Writes rnn.tex, rnn.md, rnn.pdf (with pdflatex) and rnn_train.py, the
generated NumPy training module, into examples/out (or DIR).
"""

from symprop import examples

net = examples.rnn()  # symprop.rnn(2, 3, 1, T=12, loss_at="last")
VALUES = examples.RNN_VALUES

if __name__ == "__main__":
    from symprop.render import notes_main

    notes_main(net, __file__, values=VALUES, learning_rate=0.1, extra={"rnn_train.py": lambda d: d.numpy()})
