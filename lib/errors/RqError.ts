/** Base class of every error rq-ts throws on purpose; `cause` keeps the underlying error. */
export class RqError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
