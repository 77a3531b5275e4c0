// The real `passage` program as a child process, from source through tap's TypeScript loader
// (so it works on a fresh clone without a build): init, id --json, the refusal. Each run
// costs a few seconds of TypeScript loading, so the other cases run in-process.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/** Bound on one run of the program: the TypeScript loader compiles on first use. */
const RUN_TIMEOUT_MS = 60_000

const root = fileURLToPath(new URL('../../', import.meta.url))
const main = join(root, 'cli', 'src', 'main.ts')
const loader = import.meta.resolve('@tapjs/typescript/import')

interface Run {
  code: number
  stdout: string
  stderr: string
}

function passage(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--conditions=@passage/source', '--import', loader, main, ...args],
      {
        cwd: root,
        timeout: RUN_TIMEOUT_MS,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          TS_NODE_PROJECT: join(root, 'tsconfig.test.json'),
          TS_NODE_TRANSPILE_ONLY: '1',
          NO_COLOR: '1',
          ...env,
        },
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error)
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr })
      },
    )
  })
}

t.test('passage init, then passage id --json, then the refusal', async (t) => {
  const home = join(t.testdir(), 'home')
  const init = await passage(['init', '--home', home, '--name', 'Carol'])
  t.equal(init.code, 0, init.stderr)
  const textId = /ID +(p1[a-z0-9]{38})/.exec(init.stdout)?.[1]
  t.ok(textId, 'init prints the text ID')
  t.match(init.stdout, /passage:p1[a-z0-9]{38}\?key=/)

  const id = await passage(['id', '--json'], { PASSAGE_HOME: home })
  t.equal(id.code, 0, id.stderr)
  const json = JSON.parse(id.stdout) as { id: string; name: string; home: string }
  t.equal(json.id, textId, 'id shows the identity init created')
  t.equal(json.name, 'Carol')
  t.equal(json.home, home)

  const again = await passage(['init', '--home', home])
  t.equal(again.code, 1)
  t.match(again.stderr, /already has an identity/)
  t.match(again.stderr, /--force/)
  t.notMatch(again.stderr, /\n\s+at /, 'no stack trace')
})
