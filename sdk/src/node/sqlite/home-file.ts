import { accessSync, constants } from 'node:fs'
import { HomeUnreadableError } from '../../core/errors.js'

/** The database file inside a home folder. */
export const CLIENT_DB_FILE = 'passage.sqlite'

/**
 * True when the home's database exists and this user may read and write it; false when it
 * does not exist. Throws {@link HomeUnreadableError} when it may exist but cannot be read
 * (another user's home, or a mode that forbids it): "no identity" would invite
 * `passage init --force`, which destroys it.
 */
export function homeFileExists(home: string, file: string): boolean {
  try {
    accessSync(file, constants.R_OK | constants.W_OK)
    return true
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return false
    if (code !== 'EACCES' && code !== 'EPERM') throw error
    throw new HomeUnreadableError(
      `${home} cannot be read by this user (permission denied); the identity in it is not lost: do not replace it with \`passage init --force\`. Check its owner and mode with \`ls -ld ${home}\` and run passage as its owner, or make it yours (chown -R "$USER" ${home}; chmod 700 ${home})`,
      { cause: error },
    )
  }
}
