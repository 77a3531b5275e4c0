// The real `passage` programs in real terminals, for end-to-end tests: tmux sessions on a
// private server (its own -L socket), the program run from source through tap's TypeScript
// loader, a super-node as a child process, screens read with `tmux capture-pane` and polled
// with a deadline. Everything started here is stopped at teardown.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Teardown } from '@passage/sdk/testing'
import { runCli } from '../../src/run-cli.js'
import { captureIo } from './capture-io.js'

/** Bound on one run of a program: the TypeScript loader compiles on first use. */
export const RUN_TIMEOUT_MS = 120_000
/** Bound on waiting for something to show on the screen: a cold TypeScript load of the CLI
 * under a loaded CI machine (2 cores, other test files running) took over 45 s once. */
export const SCREEN_TIMEOUT_MS = 120_000
/** Bound on a stopped process's exit before it is killed. */
const STOP_TIMEOUT_MS = 5_000

export const root = fileURLToPath(new URL('../../../', import.meta.url))
const main = join(root, 'cli', 'src', 'main.ts')
const superNodeScript = join(root, 'cli', 'test', 'e2e', 'super-node.ts')
const loader = import.meta.resolve('@tapjs/typescript/import')
const nodeArgs = ['--conditions=@passage/source', '--import', loader]
/** What the programs get of the environment: no multicast, the test's TypeScript settings. */
export const env: Record<string, string> = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '',
  TS_NODE_PROJECT: join(root, 'tsconfig.test.json'),
  TS_NODE_TRANSPILE_ONLY: '1',
  PASSAGE_LAN: 'off',
}

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`

/** Stops a child: SIGTERM, then SIGKILL if it has not exited in time. */
export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

/** Starts cli/test/e2e/super-node.ts as a process and resolves with its URL. */
export async function startSuperNodeProcess(
  t: Teardown,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [...nodeArgs, superNodeScript], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => stop(child))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the super-node did not start')),
      RUN_TIMEOUT_MS,
    )
    let out = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
      const line = out.split('\n')[0]
      if (out.includes('\n') && line) {
        clearTimeout(timer)
        resolve((JSON.parse(line) as { url: string }).url)
      }
    })
    child.once('exit', (code) => reject(new Error(`the super-node exited (${code})`)))
  })
  return { url, child }
}

/** Runs the real `passage` with `args`; resolves with its exit code and output. */
export function passage(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...nodeArgs, main, ...args],
      { cwd: root, env: { ...env, NO_COLOR: '1' }, timeout: RUN_TIMEOUT_MS },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error)
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr })
      },
    )
  })
}

/** `passage` in-process, for the setup steps (a child process costs seconds of loading). */
export async function inProcess(args: string[]): Promise<string> {
  const io = captureIo({ PASSAGE_LAN: 'off' })
  const code = await runCli(args, io)
  if (code !== 0) throw new Error(`passage ${args.join(' ')}: ${io.err()}`)
  return io.out()
}

/** A private tmux server whose sessions run the real `passage`; killed at teardown. */
export class Terminals {
  private readonly socket = `passage-e2e-${randomBytes(4).toString('hex')}`

  constructor(t: Teardown) {
    t.teardown(() => {
      try {
        this.tmux('kill-server')
      } catch {
        // Already gone: the last session ended with its program.
      }
    })
  }

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
  }

  /**
   * Opens a session `name` of `columns`×`rows` running `passage …args`. `env -i`: the pane
   * gets only {@link env}; tmux would otherwise hand it the test's own environment, and with
   * CI=true (as in CI) Ink renders nothing until the program exits.
   */
  open(name: string, args: string[], size = { columns: 80, rows: 24 }): void {
    const command = [
      'env',
      '-i',
      ...Object.entries({ ...env, TERM: 'xterm-256color' }).map(([k, v]) =>
        shellQuote(`${k}=${v}`),
      ),
      shellQuote(process.execPath),
      ...[...nodeArgs, main, ...args].map(shellQuote),
    ].join(' ')
    this.tmux(
      'new-session',
      '-d',
      '-s',
      name,
      '-x',
      String(size.columns),
      '-y',
      String(size.rows),
      '-c',
      root,
      command,
    )
    // Keep the pane once the program exits, so its last words can be read.
    this.tmux('set-option', '-t', name, 'remain-on-exit', 'on')
  }

  /** The screen of session `name`, wrapped lines joined (`-J`) when `joined`. */
  screen(name: string, joined = false): string {
    try {
      return this.tmux('capture-pane', '-p', ...(joined ? ['-J'] : []), '-t', name)
    } catch {
      return '(no pane)'
    }
  }

  /** Polls the screen of `name` until `pattern` shows, up to the deadline; returns the screen. */
  async shows(
    name: string,
    pattern: RegExp,
    options: { ms?: number; joined?: boolean } = {},
  ): Promise<string> {
    const ms = options.ms ?? SCREEN_TIMEOUT_MS
    const deadline = Date.now() + ms
    let screen = ''
    for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
      screen = this.screen(name, options.joined)
      if (pattern.test(screen)) return screen
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`the screen did not show ${pattern} within ${ms} ms; it shows:\n${screen}`)
  }

  /** Types `text` into `name` (literally), then Enter when `enter`. */
  type(name: string, text: string, enter = false): void {
    this.tmux('send-keys', '-t', name, '-l', text)
    if (enter) this.tmux('send-keys', '-t', name, 'Enter')
  }

  /** True while session `name` exists. */
  isOpen(name: string): boolean {
    try {
      this.tmux('has-session', '-t', name)
      return true
    } catch {
      return false
    }
  }

  /** True once the program of session `name` exited (its pane is dead), within `ms`. */
  async exited(name: string, ms = SCREEN_TIMEOUT_MS): Promise<boolean> {
    const deadline = Date.now() + ms
    for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
      if (!this.isOpen(name)) return true
      try {
        if (this.tmux('display-message', '-p', '-t', name, '#{pane_dead}').trim() === '1')
          return true
      } catch {
        return true
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    return false
  }
}
