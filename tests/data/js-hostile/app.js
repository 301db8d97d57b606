// A JavaScript map that misbehaves on purpose, chosen by its config key `behave` (tests/all/js.rs):
// `raise` on the row whose `n` is `at`, `loop`, `alloc` without end, `ambient` (outputs which of
// the usual ways to reach files, the environment or the network exist), `print` then throw.
import { mapRows } from "flicker-guest";

class Hostile {
  constructor(config) {
    this.behave = config.require("behave");
    this.at = config.parse("at", Number, 0);
    this.held = [];
  }

  map(row) {
    switch (this.behave) {
      case "raise":
        if (row.n === this.at) throw new RangeError(`no row ${this.at}, please`);
        return row;
      case "loop":
        for (;;) {}
      case "alloc":
        for (;;) this.held.push(new Array(1 << 16).fill(row.n));
      case "ambient": {
        const names = ["require", "process", "std", "os", "fetch", "Deno", "Bun", "XMLHttpRequest"];
        const found = names.filter((name) => typeof globalThis[name] !== "undefined");
        return { n: row.n, text: found.length ? found.join(" ") : "none" };
      }
      case "print":
        console.log(`looking at row ${row.n}`);
        throw new Error("gave up");
      default:
        return row;
    }
  }
}

mapRows(Hostile);
