// Errors that reach the user. The CLI prints `message` (never a stack) and exits with `exitCode`.
// Documented exit codes: 0 ok, 1 an SLA or gate check failed, 2 bad usage or invalid input,
// 3 environment error (a service, tool or file outside the project is missing or broken).
export const EXIT = { OK: 0, FAILED_CHECK: 1, INVALID_INPUT: 2, ENVIRONMENT: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class EdgeplaneError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad flags, an invalid scenario or results file, a malformed server response the user supplied. */
export class InputError extends EdgeplaneError {
  constructor(message: string, details: string[] = []) {
    super(message, EXIT.INVALID_INPUT, details);
  }
}

/** Something outside the project is missing or failing: a service, a binary, a permission. */
export class EnvironmentError extends EdgeplaneError {
  constructor(message: string, details: string[] = []) {
    super(message, EXIT.ENVIRONMENT, details);
  }
}

/** A feature the user asked for that edgeplane does not implement (listed in the README). */
export class NotSupportedError extends EdgeplaneError {
  constructor(feature: string) {
    super(`not supported: ${feature}`, EXIT.INVALID_INPUT);
  }
}
