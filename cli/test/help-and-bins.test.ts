// What `--help` shows (numbers as numbers, the chat screen's keys and marks), `passage id
// --uri` for scripts, and `npx passage` / `npx passage-server` from the repository root (the
// root package.json's bins, which point at the build: `npm run build` first).
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { tmpHome } from '@passage/sdk/testing'
import { passage } from './helpers/passage.js'

/**
 * Bounds on a child: a build from scratch compiles the three packages (about 40 s alone; it
 * took over 110 s on a CI machine at load 12, so the bound sits under tap's 240 s per file).
 */
const BUILD_TIMEOUT_MS = 200_000
const RUN_TIMEOUT_MS = 30_000

const root = fileURLToPath(new URL('../../', import.meta.url))

function run(command: string, args: string[], timeout: number) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: root, timeout, env: { ...process.env, NO_COLOR: '1' } },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error)
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr })
      },
    )
  })
}

t.test('timeout and limit defaults are shown as numbers', async (t) => {
  for (const [args, text] of [
    [['send', '--help'], '(default: 30000)'],
    [['inbox', '--help'], '(default: 30000)'],
    [['status', '--help'], '(default: 5000)'],
    [['init', '--help'], '(default: 600)'],
    [['history', '--help'], '(default: 50)'],
  ] as const) {
    const help = await passage([...args])
    t.equal(help.code, 0)
    t.match(help.out.replace(/\s+/g, ' '), text, args.join(' '))
    t.notMatch(help.out, /\(default: "\d+"\)/, `${args.join(' ')}: no quoted number`)
  }
})

t.test('chat --help lists the keys and the marks', async (t) => {
  const help = await passage(['chat', '--help'])
  t.equal(help.code, 0)
  for (const key of ['Enter', 'Alt+Enter', 'Tab, ↑/↓', 'PgUp/PgDn', 'Ctrl+U', '?', 'Esc']) {
    t.match(help.out, `  ${key} `)
  }
  t.match(help.out, '/add <uri>: add a contact')
  t.match(help.out, /⧗ waiting in the outbox, ✓ sent over a direct link,/)
  t.match(help.out, /↓ stored in their mailbox, ✓✓ delivered to their device, ✓✓ read\n/)
  const ascii = await passage(['chat', '--help'], { PASSAGE_ASCII: '1' })
  t.match(ascii.out, /\.\.\. waiting in the outbox, \+ sent/, 'in the marks the screen uses')
})

t.test('id --uri prints the passage: URI alone (no jq needed)', async (t) => {
  const home = tmpHome(t, 'uri')
  const init = await passage(['init', '--home', home, '--name', 'Ann', '--json'])
  const { uri } = JSON.parse(init.out) as { uri: string }
  const id = await passage(['id', '--uri', '--home', home])
  t.equal(id.code, 0, id.err)
  t.equal(id.out, `${uri}\n`)
})

t.test('npx passage and npx passage-server work from the repository root', async (t) => {
  const build = await run('npm', ['run', 'build'], BUILD_TIMEOUT_MS)
  t.equal(build.code, 0, build.stderr)
  const cliVersion = (
    JSON.parse(readFileSync(join(root, 'cli', 'package.json'), 'utf8')) as { version: string }
  ).version
  const serverVersion = (
    JSON.parse(readFileSync(join(root, 'server', 'package.json'), 'utf8')) as { version: string }
  ).version
  const cli = await run('npx', ['--offline', 'passage', '--version'], RUN_TIMEOUT_MS)
  t.equal(cli.code, 0, cli.stderr)
  t.equal(cli.stdout, `${cliVersion}\n`)
  const server = await run('npx', ['--offline', 'passage-server', '--version'], RUN_TIMEOUT_MS)
  t.equal(server.code, 0, server.stderr)
  t.equal(server.stdout, `${serverVersion}\n`)
})
