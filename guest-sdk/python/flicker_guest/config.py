"""The step's config: the string pairs of the manifest's `config` table."""

from .errors import InvalidConfig


class Config:
    """The config of a step, handed to an operator class's constructor.

    Every key the operator asks about (`get`, `require`, `in`, `items`) is noted; once the
    constructor returns, a key it never asked about is rejected, naming the known keys and the one
    it most likely misspells (``unknown config key `feild` (known keys: field); did you mean
    `field`?``). A class that takes keys it does not read sets `allow_unknown_keys = True`.
    """

    def __init__(self, pairs):
        self._pairs = [(str(key), str(value)) for key, value in pairs]
        self._asked: list[str] = []

    def _note(self, key: str) -> None:
        if key not in self._asked:
            self._asked.append(key)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of `key`, or `default` when the step does not set it."""
        self._note(key)
        for k, value in self._pairs:
            if k == key:
                return value
        return default

    def require(self, key: str) -> str:
        """The value of `key`; a step without it is invalid config."""
        value = self.get(key)
        if value is None:
            unasked = [k for k, _ in self._pairs if k not in self._asked]
            typo = closest(key, unasked)
            hint = f" (is `{typo}` a misspelling of it?)" if typo else ""
            raise InvalidConfig(f"missing config key `{key}`{hint}")
        return value

    def parse(self, key: str, convert, default=None):
        """`convert(value)` of `key` (`int`, `float`, ...), `default` when unset; a value it
        cannot convert is invalid config naming the key."""
        value = self.get(key)
        if value is None:
            return default
        try:
            return convert(value)
        except (TypeError, ValueError) as error:
            raise InvalidConfig(f"config key `{key}` = {value!r} is invalid: {error}") from None

    def __contains__(self, key: str) -> bool:
        self._note(key)
        return any(k == key for k, _ in self._pairs)

    def items(self) -> list[tuple[str, str]]:
        """Every pair, in the manifest's order (all of them count as asked about)."""
        for key, _ in self._pairs:
            self._note(key)
        return list(self._pairs)

    def reject_unasked(self) -> None:
        """Fails on the first key, in manifest order, that the operator never asked about."""
        for key, _ in self._pairs:
            if key not in self._asked:
                known = ", ".join(self._asked) or "none"
                typo = closest(key, self._asked)
                hint = f"; did you mean `{typo}`?" if typo else ""
                raise InvalidConfig(f"unknown config key `{key}` (known keys: {known}){hint}")


def closest(key: str, candidates) -> str | None:
    """The candidate `key` most likely misspells: the nearest that differs only in case and
    `-`/`_`, or by at most one edit (two for keys longer than five characters), if any."""
    key = _normalize(key)
    budget = 2 if len(key) > 5 else 1
    best = None
    for candidate in candidates:
        distance = _osa_distance(key, _normalize(candidate))
        if distance <= budget and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None


def _normalize(key: str) -> str:
    return key.replace("-", "_").lower()


def _osa_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of two neighbours turning `a` into `b`."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]
