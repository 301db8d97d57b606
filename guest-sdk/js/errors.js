// The errors an operator throws: each becomes a variant of the WIT `error` the host shows.

/** Base of the errors an operator may throw on purpose. */
export class OperatorError extends Error {}

/** The step's config is wrong: the job is refused before any task runs. */
export class InvalidConfig extends OperatorError {}

/** Any other failure of the operator (not the fault of one record). */
export class Failed extends OperatorError {}

/**
 * One record could not be handled: the data's fault, named by its index in the batch. Throw it
 * from a row function without `index`: the SDK fills in the row it was called for (and, for a
 * parser, the byte offset of the line). Any other exception thrown by a row function becomes a
 * `BadRecord` too, naming the exception.
 */
export class BadRecord extends OperatorError {
  constructor(message, { index, offset } = {}) {
    super(message);
    this.index = index;
    this.offset = offset;
  }
}

/** Why an operator cannot take rows of a type (answered before the job runs). */
export class TypeMismatch extends Error {}

/** The operator reads a field the rows do not have. */
export class MissingField extends TypeMismatch {
  constructor(field) {
    super(`missing field \`${field}\``);
    this.field = field;
  }
}

/** A field the operator reads has a type it cannot take. */
export class WrongType extends TypeMismatch {
  constructor(field, expected, found) {
    super(`field \`${field}\` is ${found}, expected ${expected}`);
    this.field = field;
    this.expected = expected;
    this.found = found;
  }
}

/** `error` in one line: its name and message. */
export function describe(error) {
  if (error instanceof Error) {
    return error.message ? `${error.name}: ${error.message}` : error.name;
  }
  return `thrown: ${String(error)}`;
}
