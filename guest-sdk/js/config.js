// The step's config: the string pairs of the manifest's `config` table.

import { InvalidConfig } from "./errors.js";

/**
 * The config of a step, handed to an operator class's constructor. Every key the operator asks
 * about (`get`, `require`, `parse`, `has`, `entries`) is noted; once the constructor returns, a
 * key it never asked about is rejected, naming the known keys and the one it most likely
 * misspells. A class that takes keys it does not read sets `static allowUnknownKeys = true`.
 */
export class Config {
  constructor(pairs) {
    this.pairs = pairs.map(([key, value]) => [String(key), String(value)]);
    this.asked = [];
  }

  note(key) {
    if (!this.asked.includes(key)) this.asked.push(key);
  }

  /** The value of `key`, or `fallback` when the step does not set it. */
  get(key, fallback = undefined) {
    this.note(key);
    const pair = this.pairs.find(([k]) => k === key);
    return pair === undefined ? fallback : pair[1];
  }

  /** The value of `key`; a step without it is invalid config. */
  require(key) {
    const value = this.get(key);
    if (value === undefined) {
      const typo = closest(key, this.pairs.map(([k]) => k).filter((k) => !this.asked.includes(k)));
      throw new InvalidConfig(`missing config key \`${key}\`${typo ? ` (is \`${typo}\` a misspelling of it?)` : ""}`);
    }
    return value;
  }

  /** `convert(value)` of `key` (`Number`, ...), `fallback` when unset; a value it cannot convert
   * (it throws, or returns NaN) is invalid config naming the key. */
  parse(key, convert, fallback = undefined) {
    const value = this.get(key);
    if (value === undefined) return fallback;
    let converted;
    try {
      converted = convert(value);
    } catch (error) {
      throw new InvalidConfig(`config key \`${key}\` = ${JSON.stringify(value)} is invalid: ${error.message}`);
    }
    if (Number.isNaN(converted)) {
      throw new InvalidConfig(`config key \`${key}\` = ${JSON.stringify(value)} is invalid: not a number`);
    }
    return converted;
  }

  /** Whether the step sets `key`. */
  has(key) {
    this.note(key);
    return this.pairs.some(([k]) => k === key);
  }

  /** Every pair, in the manifest's order (all of them count as asked about). */
  entries() {
    for (const [key] of this.pairs) this.note(key);
    return this.pairs.map((pair) => [...pair]);
  }

  /** Fails on the first key, in manifest order, that the operator never asked about. */
  rejectUnasked() {
    for (const [key] of this.pairs) {
      if (!this.asked.includes(key)) {
        const typo = closest(key, this.asked);
        throw new InvalidConfig(
          `unknown config key \`${key}\` (known keys: ${this.asked.join(", ") || "none"})${typo ? `; did you mean \`${typo}\`?` : ""}`,
        );
      }
    }
  }
}

/** The candidate `key` most likely misspells: the nearest that differs only in case and `-`/`_`,
 * or by at most one edit (two for keys longer than five characters), if any. */
export function closest(key, candidates) {
  const normal = normalize(key);
  const budget = normal.length > 5 ? 2 : 1;
  let best;
  for (const candidate of candidates) {
    const distance = osaDistance(normal, normalize(candidate));
    if (distance <= budget && (best === undefined || distance < best[0])) best = [distance, candidate];
  }
  return best?.[1];
}

function normalize(key) {
  return key.replaceAll("-", "_").toLowerCase();
}

/** Insertions, deletions, substitutions and swaps of two neighbours turning `a` into `b`. */
function osaDistance(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}
