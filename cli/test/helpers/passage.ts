// `passage …` run in-process (runCli) for the command tests: LAN multicast off (everything
// stays on loopback), the output captured.
import { tmpHome } from '@passage/sdk/testing'
import { runCli } from '../../src/run-cli.js'
import { captureIo } from './capture-io.js'

/** Runs `passage …args` with `env` (LAN off); the exit code and what it printed. */
export async function passage(args: string[], env: Record<string, string> = {}) {
  const io = captureIo({ PASSAGE_LAN: 'off', ...env })
  const code = await runCli(args, io)
  return { code, out: io.out(), err: io.err() }
}

/** A tmp home (removed at `t`'s teardown) made by `passage init --name name`. */
export async function newHome(
  t: Parameters<typeof tmpHome>[0],
  name: string,
): Promise<{ home: string; id: string; uri: string }> {
  const home = tmpHome(t, name)
  const init = await passage(['init', '--home', home, '--name', name, '--json'])
  if (init.code !== 0) throw new Error(init.err)
  const { id, uri } = JSON.parse(init.out) as { id: string; uri: string }
  return { home, id, uri }
}
