// The deployment files (issue 5), checked without a Docker daemon: docker-compose validates
// the compose files, promtool the Prometheus config and alert rules, dockerfilelint the
// Dockerfile; every variable of config.ts is documented; every metric the dashboard and the
// alert rules name exists in the /metrics of a real server (startServer on PGlite).
import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { defaultConfig } from '../src/config.js'
import { ServerMetrics } from '../src/metrics.js'
import { startServer } from '../src/start-server.js'
import { backends } from './helpers/databases.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const run = promisify(execFile)
/** A validator that has not finished in this long is stuck: docker-compose takes ~1 s. */
const COMMAND_TIMEOUT_MS = 30_000

async function command(file: string, args: string[], cwd = ROOT) {
  try {
    const { stdout, stderr } = await run(file, args, { cwd, timeout: COMMAND_TIMEOUT_MS })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string }
    return { code: failed.code ?? 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' }
  }
}

const text = (path: string) => readFile(join(ROOT, path), 'utf8')

/** The env file of each compose service, which operators copy from `<file>.example`. */
const ENV_FILES = ['server', 'postgres', 'grafana'] as const

/**
 * docker-compose.yml reads deploy/<service>.env, which operators create and git ignores:
 * validate a copy next to the real Dockerfile and deploy folders, with each
 * deploy/<service>.env.example as deploy/<service>.env (`edit` may change them first).
 */
async function composeProject(
  t: Test,
  edit: (service: string, text: string) => string = (_service, text) => text,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'passage-compose-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await copyFile(join(ROOT, 'docker-compose.yml'), join(dir, 'docker-compose.yml'))
  await symlink(join(ROOT, 'Dockerfile'), join(dir, 'Dockerfile'))
  await mkdir(join(dir, 'deploy'))
  for (const service of ENV_FILES) {
    const example = await text(`deploy/${service}.env.example`)
    await writeFile(join(dir, `deploy/${service}.env`), edit(service, example))
  }
  await symlink(
    join(ROOT, 'deploy/refuse-example-secrets.sh'),
    join(dir, 'deploy/refuse-example-secrets.sh'),
  )
  for (const folder of ['prometheus', 'grafana']) {
    await symlink(join(ROOT, 'deploy', folder), join(dir, 'deploy', folder))
  }
  return join(dir, 'docker-compose.yml')
}

t.test('docker-compose.yml is valid, with and without the monitoring profile', async (t) => {
  const file = await composeProject(t)
  // In parallel: each docker-compose run costs a second or more of Python start-up.
  const [plain, monitoring, full] = await Promise.all([
    command('docker-compose', ['-f', file, 'config', '-q']),
    command('docker-compose', ['-f', file, '--profile', 'monitoring', 'config', '-q']),
    command('docker-compose', ['-f', file, 'config']),
  ])
  t.equal(plain.code, 0, `docker-compose config -q: ${plain.stderr}`)
  t.equal(monitoring.code, 0, `--profile monitoring config -q: ${monitoring.stderr}`)
  const resolved = full.stdout
  const service = (name: string) => {
    const match = new RegExp(`^  ${name}:\\n((?:    .*\\n|      .*\\n)+)`, 'm').exec(resolved)
    return match?.[1] ?? ''
  }
  const server = service('server')
  t.match(server, /depends_on:\n\s+postgres:\n\s+condition: service_healthy/, 'waits for Postgres')
  t.match(server, /protocol: tcp\n\s+published: 8080\n\s+target: 8080/, 'HTTP port')
  t.match(server, /protocol: udp\n\s+published: 7401\n\s+target: 7401/, 'DHT port, UDP')
  t.match(server, /restart: unless-stopped/)
  t.match(server, /server-data:\/data/, 'data in a volume')
  t.match(
    server,
    /DATABASE_URL: postgres:\/\/passage:change-me@postgres:5432\/passage/,
    'env file read',
  )
  // One env file per service: no container gets another's password.
  t.notMatch(server, /POSTGRES_PASSWORD|GF_SECURITY_ADMIN_PASSWORD/, 'server: no other secret')
  const grafana = service('grafana')
  t.match(grafana, /GF_SECURITY_ADMIN_PASSWORD: change-me/)
  t.notMatch(grafana, /POSTGRES_PASSWORD|DATABASE_URL/, 'grafana: no database password')
  const postgres = service('postgres')
  t.match(postgres, /POSTGRES_PASSWORD: change-me/)
  t.notMatch(postgres, /DATABASE_URL|GF_SECURITY_ADMIN_PASSWORD/, 'postgres: no other secret')
  for (const [name, section, secret] of [
    ['server', server, 'DATABASE_URL'],
    ['postgres', postgres, 'POSTGRES_PASSWORD'],
    ['grafana', grafana, 'GF_SECURITY_ADMIN_PASSWORD'],
  ] as const) {
    t.match(
      section,
      new RegExp(
        `entrypoint:\\n\\s+- sh\\n\\s+- /usr/local/bin/refuse-example-secrets\\n\\s+- deploy/${name}\\.env\\n\\s+- ${secret}\\n\\s+- '?--'?\\n`,
      ),
      `${name}: its entrypoint refuses an example ${secret}`,
    )
    t.match(section, /refuse-example-secrets\.sh:\/usr\/local\/bin\/refuse-example-secrets:ro/)
  }
  t.match(postgres, /- '?--'?\n\s+- docker-entrypoint.sh\n\s+- postgres\n/, "then postgres's own")
  t.match(grafana, /- '?--'?\n\s+- \/run.sh\n/, "then grafana's own")
  t.match(server, /- '?--'?\n\s+- node\n\s+- server\/dist\/main.js\n/, "then the server's own")
  t.match(postgres, /image: postgres:1[56]/)
  t.match(postgres, /healthcheck:[\s\S]*pg_isready/)
  t.match(postgres, /postgres-data:\/var\/lib\/postgresql\/data/)
  t.match(service('prometheus'), /profiles:\n\s+- monitoring/)
  t.match(service('grafana'), /profiles:\n\s+- monitoring/)
})

t.test('the stack refuses to start with a change-me or empty secret', async (t) => {
  const script = join(ROOT, 'deploy/refuse-example-secrets.sh')
  const examples = Object.fromEntries(
    await Promise.all(
      ENV_FILES.map(async (name) => [name, await text(`deploy/${name}.env.example`)] as const),
    ),
  )
  const valueIn = (file: string, name: string) =>
    new RegExp(`^${name}=(.*)$`, 'm').exec(examples[file]!)?.[1] ?? ''
  const check = async (file: string, name: string, value: string) => {
    try {
      const { stdout, stderr } = await run(
        'sh',
        [script, `deploy/${file}.env`, name, '--', 'echo', 'started'],
        { env: { PATH: process.env.PATH, [name]: value }, timeout: COMMAND_TIMEOUT_MS },
      )
      return { code: 0, stdout, stderr }
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string }
      return failed
    }
  }
  for (const [file, name] of [
    ['server', 'DATABASE_URL'],
    ['postgres', 'POSTGRES_PASSWORD'],
    ['grafana', 'GF_SECURITY_ADMIN_PASSWORD'],
  ] as const) {
    const example = valueIn(file, name)
    t.match(example, /change-me/, `${file}.env.example ships the placeholder`)
    const refused = await check(file, name, example)
    t.equal(refused.code, 1, `${name} as shipped: refused`)
    t.equal(refused.stdout, '', 'the service does not start')
    t.equal(
      refused.stderr,
      `refusing to start: ${name} in deploy/${file}.env is empty or still the example value change-me; set a secret of your own there and start again.\n`,
    )
    t.equal((await check(file, name, '')).code, 1, `${name} empty: refused`)
    const real = example.replace('change-me', 'Vx9-real-secret')
    const started = await check(file, name, real)
    t.same([started.code, started.stdout], [0, 'started\n'], `${name} changed: starts`)
  }
})

t.test(
  'the private network compose file is valid: two nodes that bootstrap each other',
  async (t) => {
    const file = join(ROOT, 'deploy/private-network/docker-compose.yml')
    const result = await command('docker-compose', ['-f', file, 'config'])
    t.equal(result.code, 0, `docker-compose config: ${result.stderr}`)
    const section = /^services:\n([\s\S]*?)^\S/m.exec(result.stdout)?.[1] ?? ''
    const services = [...section.matchAll(/^ {2}([a-z0-9-]+):$/gm)].map((m) => m[1])
    t.same(services.sort(), ['node-a', 'node-b', 'postgres-a', 'postgres-b'])
    t.match(result.stdout, /PASSAGE_BOOTSTRAP: 172\.28\.0\.12:7401/)
    t.match(result.stdout, /PASSAGE_BOOTSTRAP: 172\.28\.0\.11:7401/)
    t.match(result.stdout, /ipv4_address: 172\.28\.0\.11/)
    t.match(result.stdout, /ipv4_address: 172\.28\.0\.12/)
    t.match(result.stdout, /DATABASE_URL: postgres:\/\/passage:change-me@postgres-a:5432\/passage/)
    t.match(result.stdout, /DATABASE_URL: postgres:\/\/passage:change-me@postgres-b:5432\/passage/)
  },
)

t.test('promtool accepts the Prometheus config and the alert rules', async (t) => {
  const config = await command('promtool', ['check', 'config', 'deploy/prometheus/prometheus.yml'])
  t.equal(config.code, 0, `promtool check config: ${config.stdout}${config.stderr}`)
  t.match(config.stdout, /SUCCESS: 1 rule files found/)
  const rules = await command('promtool', ['check', 'rules', 'deploy/prometheus/alerts.yml'])
  t.equal(rules.code, 0, `promtool check rules: ${rules.stdout}${rules.stderr}`)
  // Unit tests of the rules: each alert quiet while healthy, firing after its `for:`.
  const unit = await command('promtool', ['test', 'rules', 'deploy/prometheus/alerts.test.yml'])
  t.equal(unit.code, 0, `promtool test rules: ${unit.stdout}${unit.stderr}`)
  const alerts = await text('deploy/prometheus/alerts.yml')
  for (const name of [
    'PassageNoVerifiedDhtPeers',
    'PassageNotReady',
    'PassageMailboxStorageNearQuota',
    'PassageHighErrorRate',
  ]) {
    t.match(alerts, new RegExp(`alert: ${name}\\n`), `alert ${name}`)
  }
})

t.test('dockerfilelint finds no issue in the Dockerfile', async (t) => {
  const lint = await command(join(ROOT, 'node_modules/.bin/dockerfilelint'), ['-j', 'Dockerfile'])
  t.equal(lint.code, 0, lint.stdout + lint.stderr)
  const report = JSON.parse(lint.stdout) as {
    files: { issues_count: number }[]
    totalIssues: number
  }
  t.equal(report.totalIssues, 0, 'no issues')
})

t.test('the image keeps the dependencies npm nests under a workspace', async (t) => {
  // A production dependency whose version differs from the hoisted one lives in
  // <workspace>/node_modules (server/node_modules/ajv 8): without it the image cannot start.
  const lock = JSON.parse(await text('package-lock.json')) as {
    packages: Record<string, { dev?: boolean }>
  }
  const nested = new Set(
    Object.entries(lock.packages)
      .filter(([path, entry]) => /^(sdk|server)\/node_modules\//.test(path) && !entry.dev)
      .map(([path]) => path.split('/')[0]!),
  )
  const dockerfile = await text('Dockerfile')
  for (const workspace of ['sdk', 'server']) {
    t.match(
      dockerfile,
      new RegExp(
        `^COPY --from=build /app/${workspace}/node_modules ${workspace}/node_modules$`,
        'm',
      ),
      `${workspace}/node_modules is copied into the runtime image${nested.has(workspace) ? ' (it has nested packages now)' : ''}`,
    )
  }
})

t.test('the Grafana dashboard and its provisioning', async (t) => {
  const dashboard = JSON.parse(await text('deploy/grafana/dashboards/passage-super-node.json')) as {
    uid: string
    panels: {
      id: number
      title: string
      targets: { expr: string; datasource: { uid: string } }[]
    }[]
  }
  t.equal(dashboard.uid, 'passage-super-node')
  t.ok(dashboard.panels.length >= 10)
  t.equal(
    new Set(dashboard.panels.map((p) => p.id)).size,
    dashboard.panels.length,
    'unique panel ids',
  )
  for (const panel of dashboard.panels) {
    t.ok(panel.targets.length > 0, `${panel.title}: has queries`)
    for (const target of panel.targets) t.equal(target.datasource.uid, 'prometheus')
  }
  const titles = dashboard.panels.map((p) => p.title)
  for (const title of [
    'Live peers',
    'Announces by result',
    'DHT routing table',
    'DHT RPCs',
    'DHT RPC latency',
    'Mailbox depth',
    'Mailbox bytes',
    'Dropped datagrams',
    'HTTP latency',
    'Process memory',
  ]) {
    t.ok(titles.includes(title), `panel ${title}`)
  }
  t.match(await text('deploy/grafana/provisioning/datasources/prometheus.yml'), /uid: prometheus\n/)
  t.match(
    await text('deploy/grafana/provisioning/dashboards/passage.yml'),
    /path: \/var\/lib\/grafana\/dashboards/,
  )
})

t.test(
  'every configuration variable is in deploy/server.env.example and docs/OPERATING.md',
  async (t) => {
    const source = await text('server/src/config.ts')
    const variables = [...source.matchAll(/\.env\(\s*'([A-Z0-9_]+)'/g)].map((m) => m[1]!)
    t.ok(variables.length >= 11, `found ${variables.length} variables in config.ts`)
    const server = await text('deploy/server.env.example')
    const postgres = await text('deploy/postgres.env.example')
    const operating = await text('docs/OPERATING.md')
    for (const name of variables) {
      t.match(server, new RegExp(`^#? ?${name}=`, 'm'), `server.env.example: ${name}`)
      t.match(operating, new RegExp(`\`${name}\``), `OPERATING.md: ${name}`)
    }
    for (const name of ['POSTGRES_USER', 'POSTGRES_PASSWORD', 'POSTGRES_DB']) {
      t.match(postgres, new RegExp(`^${name}=`, 'm'), `postgres.env.example: ${name}`)
      t.match(operating, new RegExp(`\`${name}\``), `OPERATING.md: ${name}`)
    }
  },
)

t.test('every PASSAGE_ variable the docs and deploy files name exists', async (t) => {
  const source = await text('server/src/config.ts')
  const known = new Set([...source.matchAll(/\.env\(\s*'([A-Z0-9_]+)'/g)].map((m) => m[1]!))
  const files = [
    'docs/OPERATING.md',
    'deploy/prometheus/alerts.yml',
    'deploy/server.env.example',
    'docker-compose.yml',
    'deploy/private-network/docker-compose.yml',
  ]
  for (const file of files) {
    const named = new Set(
      [...(await text(file)).matchAll(/\bPASSAGE_[A-Z0-9_]*[A-Z0-9]\b/g)].map((m) => m[0]),
    )
    // `PASSAGE_MAILBOX_*` and `_MAX_MESSAGES` style shorthands are not names.
    const unknown = [...named].filter((name) => !known.has(name) && !name.endsWith('_'))
    t.same(unknown, [], `${file}: every PASSAGE_ variable it names is a setting`)
  }
})

t.test('the systemd unit is hardened and restarts on failure', async (t) => {
  const unit = await text('deploy/passage-server.service')
  for (const line of [
    'DynamicUser=yes',
    'ProtectSystem=strict',
    'StateDirectory=passage',
    'Restart=on-failure',
    'EnvironmentFile=/etc/passage/server.env',
    'NoNewPrivileges=yes',
    'ExecStart=/usr/bin/node server/dist/main.js --data-dir /var/lib/passage',
  ]) {
    t.match(unit, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'), line)
  }
  t.notMatch(unit, /^MemoryDenyWriteExecute=yes/m, 'V8 needs executable memory')
  // The env file the unit reads is a copy of server.env.example: EnvironmentFile= overrides
  // Environment=, so a data folder set there would move the state out of /var/lib/passage.
  t.notMatch(await text('deploy/server.env.example'), /^PASSAGE_DATA_DIR=/m, 'no data folder set')
  // `npm run build` needs TypeScript, a dev dependency: never after `npm ci --omit=dev`.
  t.notMatch(unit, /--omit=dev && npm run build/, 'a build command that can work')
  t.match(unit, /npm ci && npm run build/)
  t.match(await text('docs/OPERATING.md'), /npm ci && sudo npm run build/)
})

/** Metric names in PromQL expressions (ours only: `up` is Prometheus's own). */
function metricNames(expressions: string[]): Set<string> {
  const names = new Set<string>()
  for (const expr of expressions) {
    for (const match of expr.matchAll(/\bpassage_[a-z0-9_]+/g)) names.add(match[0])
  }
  return names
}

t.test(
  'every metric the dashboard and the alerts name is in a real server’s /metrics',
  async (t) => {
    const dashboard = JSON.parse(
      await text('deploy/grafana/dashboards/passage-super-node.json'),
    ) as {
      panels: { targets: { expr: string }[] }[]
    }
    const alerts = await text('deploy/prometheus/alerts.yml')
    const wanted = metricNames([
      ...dashboard.panels.flatMap((p) => p.targets.map((target) => target.expr)),
      ...[...alerts.matchAll(/expr: (?:\|\n)?([\s\S]*?)\n\s+(?:for|labels):/g)].map((m) => m[1]!),
    ])
    t.ok(wanted.size >= 15, `${wanted.size} metric names`)

    const storage = await backends[1]!.prepare(t) // PGlite: the server opens it as in production
    const server = await startServer({
      // As passage-server runs it: with its DHT node (here on a free UDP port of 127.0.0.1).
      config: defaultConfig({ httpHost: '127.0.0.1', httpPort: 0, dhtPort: 0, ...storage.options }),
      metrics: new ServerMetrics(),
    })
    t.teardown(() => server.close())
    const exposition = await (await fetch(`${server.url}/metrics`)).text()
    const types = new Map<string, string>()
    for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm))
      types.set(match[1]!, match[2]!)
    const exists = (name: string): boolean => {
      if (types.has(name)) return true
      const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1]
      const type = base && types.get(base)
      return type === 'histogram' || (type === 'summary' && !name.endsWith('_bucket'))
    }
    const missing = [...wanted].filter((name) => !exists(name)).sort()
    t.same(missing, [], 'metrics named in deploy/ but absent from /metrics')
  },
)
