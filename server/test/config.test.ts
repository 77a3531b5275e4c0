import { readFileSync } from 'node:fs'
// Flags and environment of passage-server, parsed in-process (main.test.ts runs the program).
import t from 'tap'
import { buildCommand, defaultConfig, parseConfig, parseEndpoint } from '../src/config.js'

const ENV_NAMES = [
  'PASSAGE_RELAY',
  'PASSAGE_RELAY_PORT',
  'PASSAGE_RELAY_MAX_LINKS',
  'PASSAGE_RELAY_MAX_BYTES',
  'PASSAGE_RELAY_MAX_DURATION',
  'PASSAGE_HTTP_HOST',
  'PASSAGE_HTTP_PORT',
  'DATABASE_URL',
  'PASSAGE_DATA_DIR',
  'PASSAGE_ANNOUNCE_TTL',
  'PASSAGE_RATE_LIMIT',
  'PASSAGE_LOG_LEVEL',
  'PASSAGE_LOG_FORMAT',
  'PASSAGE_TRUST_PROXY',
  'PASSAGE_DHT_PORT',
  'PASSAGE_BOOTSTRAP',
  'PASSAGE_PEERS_PUBLIC',
]

/** Parses with only `env` set among the server's variables; errors come back as text. */
function parse(args: string[], env: Record<string, string> = {}) {
  const saved = Object.fromEntries(ENV_NAMES.map((name) => [name, process.env[name]]))
  for (const name of ENV_NAMES) delete process.env[name]
  Object.assign(process.env, env)
  let errors = ''
  const command = buildCommand()
    .exitOverride()
    .configureOutput({ writeErr: (text) => (errors += text), writeOut: () => undefined })
  try {
    return { config: parseConfig(['node', 'passage-server', ...args], command), errors }
  } catch {
    return { config: undefined, errors }
  } finally {
    for (const name of ENV_NAMES) {
      if (saved[name] === undefined) delete process.env[name]
      else process.env[name] = saved[name]
    }
  }
}

t.test('defaults', async (t) => {
  t.same(parse([]).config, defaultConfig())
  t.same(defaultConfig(), {
    httpHost: '0.0.0.0',
    httpPort: 8080,
    databaseUrl: undefined,
    dataDir: './data',
    announceTtlMs: 600_000,
    announceSkewMs: 60_000,
    rateLimitPerMinute: 120,
    bodyLimitBytes: 16_384,
    logLevel: 'info',
    logFormat: 'json',
    trustProxy: false,
    dhtPort: undefined,
    bootstrap: [],
    dhtEndpoint: null,
    sweepIntervalMs: 60_000,
    peerNodes: [],
    peerNodeCheckIntervalMs: 60_000,
    peerNodeTimeoutMs: 5_000,
    peersPublic: false,
    mailboxQuota: { maxCount: 10_000, maxBytes: 16_777_216, maxSourceBytes: 67_108_864 },
    relay: false,
    relayPort: 7402,
    relayLimits: {
      maxLinks: 16,
      maxBytes: 67_108_864,
      bytesWindowMs: 3_600_000,
      maxDurationMs: 1_800_000,
      maxClients: 10_000,
    },
  })
})

t.test('the relay switch and its limits, by flag or environment', async (t) => {
  const { config } = parse(['--relay', '--relay-max-links', '3'], {
    PASSAGE_RELAY_PORT: '9402',
    PASSAGE_RELAY_MAX_BYTES: '1048576',
    PASSAGE_RELAY_MAX_DURATION: '60',
  })
  t.equal(config?.relay, true)
  t.equal(config?.relayPort, 9402)
  t.match(config?.relayLimits, { maxLinks: 3, maxBytes: 1_048_576, maxDurationMs: 60_000 })
  t.equal(parse([], { PASSAGE_RELAY: 'false' }).config?.relay, false)
})

t.test('every option from the environment, and flags win over it', async (t) => {
  const { config } = parse([], {
    PASSAGE_HTTP_HOST: '127.0.0.1',
    PASSAGE_HTTP_PORT: '9000',
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
    PASSAGE_DATA_DIR: '/tmp/passage',
    PASSAGE_ANNOUNCE_TTL: '120',
    PASSAGE_RATE_LIMIT: '0',
    PASSAGE_LOG_LEVEL: 'WARN',
    PASSAGE_LOG_FORMAT: 'Pretty',
    PASSAGE_TRUST_PROXY: '127.0.0.1,10.0.0.0/8',
    PASSAGE_DHT_PORT: '0',
    PASSAGE_DHT_ADVERTISE: 'dht.example.org:7401',
    PASSAGE_BOOTSTRAP: '127.0.0.1:7001, [::1]:7002',
    PASSAGE_PEERS_PUBLIC: 'yes',
  })
  t.same(config, {
    ...defaultConfig(),
    httpHost: '127.0.0.1',
    httpPort: 9000,
    databaseUrl: 'postgres://postgres@127.0.0.1:5432/test',
    dataDir: '/tmp/passage',
    announceTtlMs: 120_000,
    rateLimitPerMinute: 0,
    logLevel: 'warn',
    logFormat: 'pretty',
    trustProxy: ['127.0.0.1', '10.0.0.0/8'],
    dhtPort: 0,
    dhtEndpoint: { host: 'dht.example.org', port: 7401 },
    bootstrap: [
      { host: '127.0.0.1', port: 7001 },
      { host: '::1', port: 7002 },
    ],
    peersPublic: true,
  })
  const flags = parse(
    [
      '--http-port',
      '9100',
      '--trust-proxy',
      'true',
      '--bootstrap',
      'a.example:1',
      '--bootstrap',
      'b.example:2',
      '--database-url',
      '',
    ],
    { PASSAGE_HTTP_PORT: '9000', DATABASE_URL: 'postgres://x' },
  ).config
  t.equal(flags?.httpPort, 9100)
  t.equal(flags?.trustProxy, true)
  t.same(flags?.bootstrap, [
    { host: 'a.example', port: 1 },
    { host: 'b.example', port: 2 },
  ])
  t.equal(flags?.databaseUrl, undefined, 'an empty URL means the embedded default')
  t.equal(parse(['--trust-proxy', '2']).config?.trustProxy, 2, 'a hop count')
  t.equal(parse(['--peers-public']).config?.peersPublic, true, '--peers-public alone: on')
  t.equal(
    parse([], { PASSAGE_PEERS_PUBLIC: 'false' }).config?.peersPublic,
    false,
    'PASSAGE_PEERS_PUBLIC=false: off (not "set, so on")',
  )
  t.equal(parse(['--peers-public', 'no']).config?.peersPublic, false)
})

t.test('bad values are refused with the option named', async (t) => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--http-port', 'eighty'], {}, /--http-port.*integer from 0 to 65535/],
    [['--http-port', '65536'], {}, /--http-port/],
    [[], { PASSAGE_ANNOUNCE_TTL: '-5' }, /announce-ttl/],
    [[], { PASSAGE_ANNOUNCE_TTL: '0' }, /announce-ttl/],
    [['--rate-limit', '1.5'], {}, /rate-limit/],
    [['--log-level', 'loud'], {}, /log-level.*fatal, error, warn, info/],
    [['--log-format', 'xml'], {}, /log-format.*json or pretty/],
    [[], { PASSAGE_PEERS_PUBLIC: 'maybe' }, /peers-public.*true or false/],
    [['--trust-proxy', 'proxy.example'], {}, /trust-proxy/],
    [['--bootstrap', 'nohostport'], {}, /host:port/],
    [['--bootstrap', '127.0.0.1:0'], {}, /host:port/],
    [['--no-such-flag'], {}, /unknown option/],
    [['extra'], {}, /too many arguments|excess/i],
  ]
  for (const [args, env, message] of cases) {
    const { config, errors } = parse(args, env)
    t.equal(config, undefined, `${args.join(' ')} ${JSON.stringify(env)}: refused`)
    t.match(errors, message)
  }
})

t.test('help names every environment variable', async (t) => {
  const help = buildCommand().helpInformation()
  for (const name of ENV_NAMES) t.match(help, new RegExp(`env:\\s+${name}\\b`))
})

t.test('endpoints', async (t) => {
  t.same(parseEndpoint('127.0.0.1:80'), { host: '127.0.0.1', port: 80 })
  t.same(parseEndpoint('[::1]:7000'), { host: '::1', port: 7000 })
  t.same(parseEndpoint('node.example:65535'), { host: 'node.example', port: 65535 })
  for (const bad of ['::1:7000', 'host', 'host:', ':80', 'host:99999', 'a b:1']) {
    t.throws(() => parseEndpoint(bad), `${bad} refused`)
  }
})

t.test('--version prints server/package.json version', async (t) => {
  const { version } = JSON.parse(
    readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
  ) as { version: string }
  let out = ''
  const command = buildCommand()
    .exitOverride()
    .configureOutput({ writeOut: (text) => (out += text), writeErr: () => undefined })
  let exitCode: number | undefined
  try {
    command.parse(['node', 'passage-server', '--version'])
  } catch (error) {
    exitCode = (error as { exitCode?: number }).exitCode
  }
  t.equal(exitCode, 0, 'commander exits 0 after printing it')
  t.equal(out, `${version}\n`)
  t.match(buildCommand().helpInformation(), /-V, --version +show the version/)
})
