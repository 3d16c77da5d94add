r"""Hand-written gradient formulas: a parser of our own, their numbers and their SymPy form.

A student writes ``\delta^{[1]} x^{\top}`` or ``W2.T @ delta2 * relu_prime(z1)``;
this module reads it - with a hand-written tokenizer and recursive-descent
parser, never ``eval`` or ``sympify`` of user text - into a small tree (the
AST, nested tuples), which can then be

* evaluated numerically at a sample point (``Evaluator``): the verdict and the
  diagnoses of ``verify.check_gradient`` run on this, cheaply, many times;
* built into a SymPy expression of the network's symbols (``to_sympy``) for
  the symbolic check;
* printed back as plain text (``text``) so the user sees how it was read.

A SymPy expression given instead of a string is converted to the same tree
(``from_sympy``).

Notation (both forms may be mixed)
----------------------------------
names      W^{[2]} W_2 W_{2} W2; \delta^{[1]} delta1 dz1; a^{[1]} a1; a^{[0]} = x;
           \hat{y} yhat y_hat (also a^{[L]}); batch matrices X, A1, Z1, Delta1, Yhat;
           m (batch size); an example index ^{(i)} or _i is allowed and ignored
transpose  x^T x^{\top} x.T W^{[2]\top} xᵀ
products   @            matrix product
           \odot \circ ⊙  Hadamard (entrywise) product
           *            NumPy's *: entrywise, with NumPy broadcasting ((n,1)*(1,k) is an outer product)
           juxtaposition, \cdot, \times: matrix product when the sizes fit, else
                        entrywise when the shapes are equal (textbooks write delta sigma'(z))
           a scalar (or a 1x1 value) times anything scales it
           juxtaposition binds tighter than the explicit operators: a \odot b c = a \odot (b c)
functions  \sigma sigma sigmoid, \tanh, \text{ReLU} relu, softplus, ... (every registered op,
           by its name, its LaTeX word or an alias); a prime or _prime means the derivative:
           \sigma'(z) relu_prime(z1) \text{ReLU}'(z); f'(z^{[1]}) is layer 1's activation's;
           1[z>0] \mathbb{1}[z>0] 1_{z>0} (z1 > 0) are the indicator; max(0, z) is ReLU;
           exp, log, ln, sqrt, softmax
other      \frac{a}{b}, a/b, powers x^2 (entrywise on matrices; small integer exponents
           only), \mathbf{1} / ones (a ones vector, sized by the product it is in),
           \sum_i E or sum(E): the sum over the examples of E, mean(E) = sum(E)/m
           (batched formulas: inside a sum, names are one example's values).

Limits (checked before anything is built): length, tokens, nesting depth,
number length and exponent size; characters outside ASCII other than a few
maths symbols are refused.

The package, one module a concern:

* ``tokens``: characters, tokens and the limits;
* ``names``: the network's vocabulary (``namespace``);
* ``functions``: the functions a formula may call;
* ``tree``: the formula tree, its walks and its plain-text form;
* ``parser``: the grammar shared by every notation; ``latex``: the LaTeX front end (commands);
* ``evaluate``: shapes, products and numbers; ``sympy_form``: to and from SymPy;
* ``layers``: the layer ops (convolution, pooling, vec, mask) and their values;
  ``layer_words``: how the parser reads them.
"""

from .evaluate import Evaluator, Ones, _exact, _numpy_functions, _scalar_like, _shape, _shape_text, product_rule
from .functions import ELEMENTARY_FUNCTIONS, function_words
from .conventions import NUMBERINGS, Convention, Numbering, numbering
from .layers import LayerOps
from .names import Name, Namespace, namespace, network_constants
from .parser import Formula, parse
from .sympy_form import NotSymbolic, from_sympy, to_sympy
from .tokens import MAX_DEPTH, MAX_DIGITS, MAX_EXPONENT, MAX_LENGTH, MAX_TOKENS, Token, tokenize
from .tree import FormulaShapeError, at, call, children, fprime, mentions, name_node, replace, subtrees, text

__all__ = [
    "Convention", "NUMBERINGS", "Numbering", "numbering",
    "ELEMENTARY_FUNCTIONS", "Evaluator", "Formula", "FormulaShapeError", "MAX_DEPTH", "MAX_DIGITS", "MAX_EXPONENT",
    "LayerOps", "MAX_LENGTH", "MAX_TOKENS", "Name", "Namespace", "network_constants", "NotSymbolic", "Ones", "Token",
    "at", "call", "children", "fprime",
    "from_sympy", "function_words", "mentions", "name_node", "namespace", "parse", "product_rule", "replace",
    "subtrees", "text", "to_sympy", "tokenize", "_exact", "_numpy_functions", "_scalar_like", "_shape", "_shape_text",
]
