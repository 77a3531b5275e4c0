import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import type { CliIo } from './cli-io.js'
import { idCommand } from './commands/id.js'
import { initCommand } from './commands/init.js'
import { statusCommand } from './commands/status.js'
import { ExitCode } from './exit-code.js'
import { reportError } from './report-error.js'
import { style } from './style.js'

/** The package version, read from cli/package.json (one level up from src/ and dist/). */
function version(): string {
  const json = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version?: string
  }
  return json.version ?? '0.0.0'
}

/**
 * Runs `passage` with `args` (without `node` and the script) and returns the exit code.
 * Nothing here calls `process.exit`, so tests run it in-process with captured output.
 */
export async function runCli(args: readonly string[], io: CliIo): Promise<ExitCode> {
  let code: ExitCode = ExitCode.ok
  const homeHelp = 'home folder (default: $PASSAGE_HOME or ~/.passage)'
  const program = new Command('passage')
    .description('Passage: decentralized, end-to-end encrypted messaging from the terminal')
    .version(version(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run passage --help for usage)')
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
      outputError: (text, write) => write(style(io, io.stderr).red(text)),
    })

  program
    .command('init')
    .description('create your identity and show it as text ID and QR code')
    .option('--home <dir>', homeHelp)
    .option('--force', 'replace an existing identity (the old one is lost for good)')
    .option('--name <name>', 'a display name to put in your passage: URI')
    .option('--json', 'print JSON instead of text and QR code')
    .action(async (options: Parameters<typeof initCommand>[0]) => {
      code = await initCommand(options, io)
    })

  program
    .command('id')
    .description('show your identity')
    .option('--home <dir>', homeHelp)
    .option('--qr', 'also show the QR code of your passage: URI')
    .option('--json', 'print JSON')
    .action(async (options: Parameters<typeof idCommand>[0]) => {
      code = await idCommand(options, io)
    })

  program
    .command('status')
    .description("show a super-node's identity, health, readiness and live peers")
    .option(
      '--server <url>',
      'the super-node, e.g. http://127.0.0.1:8080 (default: $PASSAGE_SERVERS)',
    )
    .option('--timeout <ms>', 'how long to wait for each answer', '5000')
    .option('--json', 'print JSON')
    .action(async (options: Parameters<typeof statusCommand>[0]) => {
      code = await statusCommand(options, io)
    })

  try {
    await program.parseAsync(args, { from: 'user' })
    return code
  } catch (error) {
    return reportError(error, io)
  }
}
