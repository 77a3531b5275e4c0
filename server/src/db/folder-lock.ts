import { readFileSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'

// One process at a time on a folder or a key file: a lock file with the holder's PID and start
// time. PGlite has no lock of its own (two processes on one folder would corrupt it), and a
// DHT node's key must not run twice (two nodes with one ID).

/** Lock files this process holds (a PID 1 in a restarted container is not "alive"). */
const heldLocks = new Set<string>()

/**
 * Takes the lock file `lockPath` for `what` (our PID and, where /proc tells it, our start
 * time), or fails if the process that wrote it still runs (the message names `what` and ends
 * with `otherwise`). A lock whose process is gone, or whose PID now belongs to another process
 * (a PID reused after a crash or a container restart), is taken over. Resolves with the
 * release.
 *
 * @example
 * const unlock = await lockFile(`${folder}.lock`, `the data folder ${folder}`, 'use another one')
 */
export async function lockFile(
  lockPath: string,
  what: string,
  otherwise: string,
): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, lockText(process.pid), { flag: 'wx' })
      heldLocks.add(lockPath)
      return async () => {
        heldLocks.delete(lockPath)
        await rm(lockPath, { force: true })
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const holder = parseLock(await readFile(lockPath, 'utf8').catch(() => ''))
      if (heldLocks.has(lockPath) || (holder && holder.pid !== process.pid && holds(holder))) {
        throw new Error(
          `${what} is in use (by process ${holder?.pid ?? process.pid}); stop that server, or ` +
            `${otherwise}. If no server runs, delete ${lockPath}`,
        )
      }
      await rm(lockPath, { force: true }) // left by a process that is gone
    }
  }
  throw new Error(`could not lock ${what} (${lockPath} keeps reappearing)`)
}

/** `<pid> <start time>`: the start time (clock ticks after boot, /proc) tells a reused PID. */
function lockText(pid: number): string {
  const started = processStartTime(pid)
  return started === undefined ? `${pid}\n` : `${pid} ${started}\n`
}

function parseLock(text: string): { pid: number; started: string | undefined } | undefined {
  const [pid, started] = text.trim().split(/\s+/)
  const n = Number.parseInt(pid ?? '', 10)
  return n > 0 ? { pid: n, started } : undefined
}

/** True when the lock's writer still runs: its PID is alive and is the same process. */
function holds(holder: { pid: number; started: string | undefined }): boolean {
  if (!isAlive(holder.pid)) return false
  const started = processStartTime(holder.pid)
  if (started === undefined) return true // no /proc: a live PID is all we can know
  if (holder.started !== undefined) return holder.started === started
  // A lock of an earlier version (PID only): held if that PID runs Node.js at all.
  return /\bnode/.test(readProc(holder.pid, 'cmdline')?.replace(/\0/g, ' ') ?? 'node')
}

/** A process's start time (field 22 of /proc/<pid>/stat), or undefined without /proc. */
function processStartTime(pid: number): string | undefined {
  const stat = readProc(pid, 'stat')
  if (stat === undefined) return undefined
  // "pid (comm) state ppid …": comm may hold spaces and parentheses; fields follow the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8')
  } catch {
    return undefined
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
