#!/usr/bin/env node
// Node's on-disk compile cache first (Node 22.1+; NODE_DISABLE_COMPILE_CACHE=1 turns it off):
// a short command's start is mostly compiling the modules it loads, and the cache keeps that
// from the second run on. The CLI's own modules come after it, so they are imported, not
// declared at the top (static imports would load before this line runs).
import { enableCompileCache } from 'node:module'

enableCompileCache?.()
const { processIo } = await import('./cli-io.js')
const { runCli } = await import('./run-cli.js')
process.exitCode = await runCli(process.argv.slice(2), processIo())
