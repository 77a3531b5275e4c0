/** The exit codes of `passage`, stable for scripts. */
export const ExitCode = {
  ok: 0,
  /** A refusal or a user error: the message says what to do. */
  failure: 1,
  /** Bad command line. */
  usage: 2,
  /** The network or the super-node could not be reached, or did not answer in time. */
  unreachable: 3,
  /** A bug in passage (EX_SOFTWARE): the only case that prints a stack trace. */
  software: 70,
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]
