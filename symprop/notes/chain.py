"""The chain rule written path by path, as a product of local derivatives (scalar networks).
"""

from __future__ import annotations

from typing import Optional

from .context import SectionBuilder
from .view import Equation, Section, _substitution, format_number


class ChainSection(SectionBuilder):
    """4. The chain rule, path by path: scalar networks only."""

    key = "chain"

    def build(self) -> list:
        if not self.scalar:
            return []
        section = self.chain_section()
        return [] if section is None else [section]

    def chain_section(self) -> Optional[Section]:
        lines = []
        gradients = {s.of: s for s in self.steps if s.kind == "gradient"}
        order = [sym.name for sym in self.net.params + self.net.inputs if sym.name in gradients]
        for s in (gradients[name] for name in order):
            paths = self.paths(s)
            if paths is None:
                continue
            symbolic_terms, local_terms, number_terms = [], [], []
            for path in paths:
                symbolic_terms.append(r" \cdot ".join(self.partial(top, bottom) for top, bottom, _ in path))
                local_terms.append(r" \cdot ".join(self.bracketed(local) for _, _, local in path))
                if self.values is not None:
                    factors = [self.evaluate_expr(local) for _, _, local in path]
                    for (top, bottom, _), v in zip(path, factors):
                        self._record(f"local:{top}/{bottom}", v)
                    number_terms.append(r" \cdot ".join(_substitution(v) for v in factors))
            lhs = self.tex(s.symbol)
            lines.append(Equation(lhs, "=", " + ".join(symbolic_terms)))
            line = " + ".join(local_terms)
            if self.values is not None:
                value = self.values[s.key]
                self._record(s.key, value)
                lines.append(Equation("", "=", line))
                lines.append(Equation("", "=", rf"{' + '.join(number_terms)} = {format_number(value)}"))
            else:
                lines.append(Equation("", "=", line))
        if not lines:
            return None
        blocks = [
            self.p(
                "For a scalar network the chain rule can be written path by path, as a product of local derivatives "
                "from the loss down to each parameter",
                " (with the numbers of the worked example below):" if self.values is not None else ":",
            ),
            self.equations(lines),
        ]
        return Section("The chain rule, path by path", 1, tuple(blocks))

    def paths(self, s, limit: int = 4):
        """Every path from the loss to ``s.of`` as [(consumer, value, local), ...], loss first; None if too many."""
        result = []

        def walk(step, suffix):
            for c in step.contributions:
                if c.local is None:
                    raise _TooMany
                edge = (c.consumer, step.of, c.local)
                if c.upstream == 1:
                    result.append([edge] + suffix)
                else:
                    upstream = self.by_symbol.get(c.upstream)
                    if upstream is None:
                        raise _TooMany
                    walk(upstream, [edge] + suffix)
                if len(result) > limit:
                    raise _TooMany

        try:
            walk(s, [])
        except _TooMany:
            return None
        return result


class _TooMany(Exception):
    pass
