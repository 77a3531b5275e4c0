// passage servers list | add | remove, and init --server remembering its super-node:
// in-process (runCli) on tmp homes. No super-node runs: remembering touches only the home.
import t from 'tap'
import { tmpHome } from '@passage/sdk/testing'
import { passage } from './helpers/passage.js'

async function remembered(home: string): Promise<string[]> {
  const run = await passage(['servers', 'list', '--json', '--home', home])
  if (run.code !== 0) throw new Error(run.err)
  return (JSON.parse(run.out) as { remembered: string[] }).remembered
}

t.test('init --server remembers the super-node, without --link or --recover', async (t) => {
  const home = tmpHome(t, 'init-server')
  const init = await passage([
    'init',
    '--home',
    home,
    '--server',
    '127.0.0.1:8080',
    '--server',
    'https://node.example/',
    '--json',
  ])
  t.equal(init.code, 0, init.err)
  t.same(await remembered(home), ['http://127.0.0.1:8080', 'https://node.example'])
})

t.test('init --server with a bad URL creates nothing', async (t) => {
  const home = tmpHome(t, 'init-bad')
  const init = await passage(['init', '--home', home, '--server', 'ftp://x'])
  t.equal(init.code, 1)
  t.match(init.err, /a super-node URL is http:\/\/ or https:\/\//)
  const id = await passage(['id', '--home', home])
  t.equal(id.code, 1, 'no identity was made')
})

t.test('servers add, list, remove: a typo is forgotten', async (t) => {
  const home = tmpHome(t, 'servers')
  t.equal((await passage(['init', '--home', home, '--json'])).code, 0)
  const empty = await passage(['servers', 'list', '--home', home])
  t.equal(empty.code, 0, empty.err)
  t.match(empty.out, /No super-node remembered/)

  const add = await passage([
    'servers',
    'add',
    '127.0.0.1:8080',
    'http://12.0.0.1:8080',
    '--home',
    home,
  ])
  t.equal(add.code, 0, add.err)
  t.equal(add.out, 'Remembered http://127.0.0.1:8080\nRemembered http://12.0.0.1:8080\n')
  const list = await passage(['servers', '--home', home])
  t.equal(list.out, 'http://127.0.0.1:8080\nhttp://12.0.0.1:8080\n', 'list is the default')

  const unknown = await passage(['servers', 'remove', 'http://nowhere:1', '--home', home])
  t.equal(unknown.code, 1)
  t.match(unknown.err, /http:\/\/nowhere:1 is not a remembered super-node; passage servers list/)

  const removed = await passage(['servers', 'remove', '12.0.0.1:8080/', '--home', home])
  t.equal(removed.code, 0, removed.err)
  t.equal(removed.out, 'Forgot http://12.0.0.1:8080\n')
  t.same(await remembered(home), ['http://127.0.0.1:8080'])

  const env = await passage(['servers', 'list', '--home', home], {
    PASSAGE_SERVERS: 'http://a:1',
  })
  t.match(env.out, /PASSAGE_SERVERS is set: http:\/\/a:1 is used instead/)
})

t.test('servers on a home without an identity: how to make one', async (t) => {
  const run = await passage(['servers', 'list', '--home', tmpHome(t, 'none')])
  t.equal(run.code, 1)
  t.match(run.err, /passage init/)
})
