import { isAbsolute, join, resolve } from 'node:path'
import type { CliIo } from './cli-io.js'

/** The folder name of the default home, inside the user's home folder. */
const DEFAULT_HOME_NAME = '.passage'

/** `--home`, else `PASSAGE_HOME`, else `~/.passage`; a leading `~` is the user's home. */
export function home(option: string | undefined, io: CliIo): string {
  const chosen = option ?? (io.env.PASSAGE_HOME || undefined)
  if (chosen === undefined) return join(io.homedir, DEFAULT_HOME_NAME)
  const expanded =
    chosen === '~' || chosen.startsWith('~/') ? join(io.homedir, chosen.slice(1)) : chosen
  return isAbsolute(expanded) ? expanded : resolve(expanded)
}
