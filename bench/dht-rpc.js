// Issue 3 benchmark: DHT pings and find-nodes answered per second, against raw UDP
// request/response of the same shape as the ceiling: a node:dgram echo server answering a
// node:dgram client that keeps 64 requests in flight, with the same request and response sizes
// as our encoded ping/pong and find-node/nodes (20 nodes). Server and client each run in their
// own process, for the ceiling and for ours. Ours is driven by the ceiling's own load loop
// sending our real encoded requests (loadClient), so the two rates differ by the server only:
// what a super-node answers per second. The same workload from the SDK's DhtNode as client
// (which also decodes every answer) is printed for information. Several rounds, ceiling and
// ours interleaved; median of the per-round ratios with their spread (min–max). Beside the
// rates, the server process's CPU time per answer and the ratio of answers per server
// CPU-second (the load generators' CPU is not counted: they are other processes).
// BENCH_ROUNDS rounds (default 3) of BENCH_RPC_SECONDS (default 2) per measurement.
// Goal (issue 15's table): find-node and ping, 0.8 of the raw UDP echo or more.
import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { runChild, startChild } from './child.js'
import { cpuSeconds, median, report, reportRatio } from './lib.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const SECONDS = Number(process.env.BENCH_RPC_SECONDS ?? 2)
const WARMUP_MS = 500 // load before counting: JIT settles
const IN_FLIGHT = 64
const SERVER_TABLE_NODES = 32 // the server knows this many nodes: find-node answers carry 20
const HOST = '127.0.0.1'
const SELF = fileURLToPath(import.meta.url)

/** Sizes of our datagrams, encoded as the SDK does (a client asking, a server answering). */
async function datagramSizes() {
  const { encodeMessage, K } = await import('@passage/sdk')
  const header = (client) => ({
    txid: randomBytes(8),
    senderKey: randomBytes(33),
    client,
    wantProof: false,
    proof: undefined,
  })
  const nodes = Array.from({ length: K }, (_, i) => ({
    id: randomBytes(20),
    host: HOST,
    port: 40_000 + i,
  }))
  const token = randomBytes(16)
  return {
    ping: {
      request: encodeMessage({ ...header(true), type: 'ping' }).byteLength,
      response: encodeMessage({
        ...header(false),
        type: 'pong',
        observed: { host: HOST, port: 40_000 },
        token,
      }).byteLength,
    },
    'find-node': {
      request: encodeMessage({ ...header(true), type: 'find-node', target: randomBytes(20) })
        .byteLength,
      response: encodeMessage({ ...header(false), type: 'nodes', token, nodes }).byteLength,
    },
  }
}

// ------------------------------------------------------------------ servers (child processes)

/** Raw echo: answers each request with a datagram of the size it asks for, same sequence number. */
async function rawServer() {
  const socket = dgram.createSocket('udp4')
  socket.bind(0, HOST)
  await once(socket, 'listening')
  const replies = new Map()
  socket.on('message', (msg, rinfo) => {
    const size = msg.readUInt16BE(0)
    let reply = replies.get(size)
    if (!reply) replies.set(size, (reply = Buffer.alloc(size)))
    msg.copy(reply, 0, 0, 6)
    socket.send(reply, rinfo.port, rinfo.address)
  })
  process.stdout.write(`${JSON.stringify({ port: socket.address().port })}\n`)
}

/** Our server: a DhtNode that knows SERVER_TABLE_NODES nodes (a testnet in this process). */
async function oursServer() {
  const { createTestnet } = await import('@passage/sdk/testing')
  const net = await createTestnet(SERVER_TABLE_NODES)
  const server = net.nodes[1] ?? net.nodes[0]
  process.stdout.write(
    `${JSON.stringify({ port: server.address().port, table: server.table.size })}\n`,
  )
}

// ------------------------------------------------------------------ clients (child processes)

/** Keeps IN_FLIGHT requests going for WARMUP_MS + SECONDS; prints answers per second. */
async function drive(send) {
  let counting = false
  let done = 0
  let total = 0
  let failed = 0
  let stop = false
  const worker = async () => {
    while (!stop) {
      try {
        await send()
        total++
        if (counting) done++
      } catch {
        if (counting) failed++
      }
    }
  }
  const workers = Array.from({ length: IN_FLIGHT }, worker)
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS))
  counting = true
  const started = performance.now()
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000))
  counting = false
  const seconds = (performance.now() - started) / 1000
  stop = true
  await Promise.all(workers)
  return { rate: done / seconds, total, failed }
}

async function rawClient(port, kind) {
  const size = (await datagramSizes())[kind]
  const socket = dgram.createSocket('udp4')
  socket.bind(0, HOST)
  await once(socket, 'listening')
  const pending = new Map()
  socket.on('message', (msg) => {
    const seq = msg.readUInt32BE(2)
    const resolve = pending.get(seq)
    if (resolve) {
      pending.delete(seq)
      resolve()
    }
  })
  let next = 0
  const send = () =>
    new Promise((resolve, reject) => {
      const seq = next++ >>> 0
      const request = Buffer.alloc(size.request)
      request.writeUInt16BE(size.response, 0)
      request.writeUInt32BE(seq, 2)
      const timer = setTimeout(() => {
        pending.delete(seq)
        reject(new Error('timeout'))
      }, 1000)
      pending.set(seq, () => {
        clearTimeout(timer)
        resolve()
      })
      socket.send(request, port, HOST)
    })
  const result = await drive(send)
  socket.close()
  return { ...result, size }
}

/**
 * The raw client's loop with our requests: a real encoded ping or find-node (a client-mode
 * header, a fresh sequence number in the txid each time) sent from a plain dgram socket, the
 * answer matched by its txid and checked to be a pong or a nodes message, nothing else decoded.
 * The same load generator as the ceiling's, so the two rates differ by the server only.
 */
async function loadClient(port, kind) {
  const { decodeMessage, encodeMessage, Identity, MessageType } = await import('@passage/sdk')
  const { libsignalKeys } = await import('@passage/sdk/node')
  const header = {
    txid: new Uint8Array(8),
    senderKey: Identity.generate(libsignalKeys).publicKey,
    client: true,
    wantProof: false,
    proof: undefined,
  }
  const template = Buffer.from(
    encodeMessage(
      kind === 'ping'
        ? { ...header, type: 'ping' }
        : { ...header, type: 'find-node', target: randomBytes(20) },
    ),
  )
  const answerType = kind === 'ping' ? MessageType.pong : MessageType.nodes
  // A full answer: a short one (cut by the amplification guard) is not counted as answered.
  const answerBytes = (await datagramSizes())[kind].response
  const TXID_SEQ_OFFSET = 8 // magic, version, type, flags, then the txid's 8 bytes: seq in the last 4
  const socket = dgram.createSocket('udp4')
  socket.bind(0, HOST)
  await once(socket, 'listening')
  const pending = new Map()
  let wrongAnswers = 0
  let proven = false
  socket.on('message', (msg) => {
    if (msg.byteLength < TXID_SEQ_OFFSET + 4) return
    if (msg[2] === MessageType.ping) {
      // The server's return-routability ping (its amplification guard): answered as a client
      // answers it, which proves this endpoint; from then on the answers come in full.
      const check = decodeMessage(msg)
      const pong = { type: 'pong', observed: { host: HOST, port }, token: randomBytes(16) }
      socket.send(encodeMessage({ ...header, txid: check.txid, ...pong }), port, HOST)
      proven = true
      return
    }
    const resolve = pending.get(msg.readUInt32BE(TXID_SEQ_OFFSET))
    if (!resolve) return
    pending.delete(msg.readUInt32BE(TXID_SEQ_OFFSET))
    const ok = msg[2] === answerType && msg.byteLength >= answerBytes
    if (!ok) wrongAnswers++
    resolve(ok)
  })
  let next = 0
  const send = () =>
    new Promise((resolve, reject) => {
      const seq = next++ >>> 0
      const request = Buffer.from(template)
      request.writeUInt32BE(seq, TXID_SEQ_OFFSET)
      if (kind !== 'ping') randomBytes(20).copy(request, request.byteLength - 20) // a new target
      const timer = setTimeout(() => {
        pending.delete(seq)
        reject(new Error('timeout'))
      }, 1000)
      pending.set(seq, (ok) => {
        clearTimeout(timer)
        if (ok) resolve()
        else reject(new Error('not the answer asked for'))
      })
      socket.send(request, port, HOST)
    })
  // Prove this endpoint first, as a real client's first exchange does: a ping (its pong is
  // larger than the ping) makes the server check the endpoint; at most 5 s.
  const ping = Buffer.from(encodeMessage({ ...header, type: 'ping' }))
  for (let i = 0; i < 50 && !proven; i++) {
    socket.send(ping, port, HOST)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  if (!proven) throw new Error('the server never checked this endpoint')
  await new Promise((resolve) => setTimeout(resolve, 100)) // the check's pong arrives first
  wrongAnswers = 0
  const result = await drive(send)
  socket.close()
  return { ...result, wrongAnswers }
}

async function oursClient(port, kind) {
  const { DhtNode, Identity } = await import('@passage/sdk')
  const { bindUdpSocket, libsignalKeys } = await import('@passage/sdk/node')
  const node = new DhtNode({
    identity: Identity.generate(libsignalKeys),
    socket: await bindUdpSocket(HOST, 0),
    client: true, // as a phone: the server answers but does not add it to its table
    maxInFlight: IN_FLIGHT,
    requestTimeoutMs: 1000,
    retries: 0,
  })
  const to = { host: HOST, port }
  const targets = Array.from({ length: 1024 }, () => randomBytes(20))
  let i = 0
  let send
  if (kind === 'ping') send = () => node.request(to, { type: 'ping' })
  else if (kind === 'ping-proof') send = () => node.ping(to)
  else {
    send = async () => {
      const reply = await node.request(to, { type: 'find-node', target: targets[i++ & 1023] })
      if (reply.type !== 'nodes' || reply.nodes.length < 20) throw new Error('short answer')
    }
  }
  const result = await drive(send)
  await node.destroy()
  return result
}

// ------------------------------------------------------------------ orchestration

/**
 * One client run against a server. Also answers per CPU-second of the server process (all
 * answers, warm-up included, over the server's CPU time meanwhile): steadier than wall-clock
 * rates when others load the machine.
 */
async function measure(kind, server, variant) {
  const client = { raw: 'raw-client', load: 'load-client', sdk: 'ours-client' }[variant]
  const cpuBefore = cpuSeconds(server.child.pid)
  const result = await runChild([SELF, client, String(server.info.port), kind], {
    timeoutMs: (SECONDS + 30) * 1000,
  })
  const cpu = cpuSeconds(server.child.pid) - cpuBefore
  result.perCpuSecond = result.total / cpu
  result.cpuUs = (cpu * 1e6) / result.total
  return result
}

export async function benchDhtRpc() {
  console.log(
    `\n# dht-rpc: requests answered per second, ${IN_FLIGHT} in flight, server and client in separate processes, ${ROUNDS} rounds of ${SECONDS} s`,
  )
  const raw = await startChild([SELF, 'raw-server'])
  const ours = await startChild([SELF, 'ours-server'])
  const kinds = ['ping', 'find-node']
  const rates = { ping: [], 'find-node': [], 'ping-proof': [] }
  const ceilings = { ping: [], 'find-node': [] }
  const ratios = { ping: [], 'find-node': [], 'ping-proof': [] }
  const sdkRatios = { ping: [], 'find-node': [] }
  const cpuRatios = { ping: [], 'find-node': [], 'ping-proof': [] }
  const cpuUs = { ping: [], 'find-node': [], rawPing: [], 'raw-find-node': [] }
  try {
    console.log(`server table: ${ours.info.table} nodes`)
    for (let round = 0; round < ROUNDS; round++) {
      const line = []
      for (const kind of kinds) {
        const ceiling = await measure(kind, raw, 'raw')
        const value = await measure(kind, ours, 'load')
        const sdk = await measure(kind, ours, 'sdk')
        ceilings[kind].push(ceiling.rate)
        rates[kind].push(value.rate)
        ratios[kind].push(value.rate / ceiling.rate)
        sdkRatios[kind].push(sdk.rate / ceiling.rate)
        cpuRatios[kind].push(value.perCpuSecond / ceiling.perCpuSecond)
        cpuUs[kind].push(value.cpuUs)
        cpuUs[kind === 'ping' ? 'rawPing' : 'raw-find-node'].push(ceiling.cpuUs)
        const failed = value.failed + (value.wrongAnswers ?? 0)
        line.push(
          `${kind} ${value.rate.toFixed(0)}/s vs raw ${ceiling.rate.toFixed(0)}/s (${ceiling.size.request}→${ceiling.size.response} B; server CPU ${value.cpuUs.toFixed(1)} vs ${ceiling.cpuUs.toFixed(1)} µs/answer; with the SDK client ${sdk.rate.toFixed(0)}/s)${failed ? ` ${failed} failed` : ''}`,
        )
        if (kind === 'ping') {
          // For information: a ping that asks the server to sign (how nodes verify each other).
          const proof = await measure('ping-proof', ours, 'sdk')
          rates['ping-proof'].push(proof.rate)
          ratios['ping-proof'].push(proof.rate / ceiling.rate)
          cpuRatios['ping-proof'].push(proof.perCpuSecond / ceiling.perCpuSecond)
          line.push(`ping+proof ${proof.rate.toFixed(0)}/s`)
        }
      }
      console.log(`round ${round + 1}: ${line.join(', ')}`)
    }
  } finally {
    await Promise.all([raw.stop(), ours.stop()])
  }
  console.log('\n## dht-rpc summary (median of round ratios, spread min–max)')
  for (const kind of kinds) {
    const ceiling = median(ceilings[kind])
    report(
      `${kind} answered/s (vs raw UDP, same sizes)`,
      ceiling * median(ratios[kind]),
      ceiling,
      0.8,
      '/s',
      ratios[kind],
    )
  }
  for (const kind of kinds) {
    reportRatio(`${kind} per server CPU-second (vs raw UDP)`, cpuRatios[kind], 0.8)
  }
  console.log(
    `server CPU per answer (median, µs): ping ${median(cpuUs.ping).toFixed(1)} vs raw ${median(cpuUs.rawPing).toFixed(1)}; find-node ${median(cpuUs['find-node']).toFixed(1)} vs raw ${median(cpuUs['raw-find-node']).toFixed(1)}`,
  )
  for (const kind of kinds) {
    console.log(
      `${`${kind} with the SDK's DhtNode as client, ratio (info)`.padEnd(54)} ${median(sdkRatios[kind]).toFixed(3)}`,
    )
  }
  const ceiling = median(ceilings.ping)
  report(
    'ping+proof answered/s (info, vs raw ping)',
    ceiling * median(ratios['ping-proof']),
    ceiling,
  )
  reportRatio('ping+proof per server CPU-second (info)', cpuRatios['ping-proof'])
}

if (process.argv[1] === SELF) {
  const [mode, port, kind] = process.argv.slice(2)
  if (mode === 'raw-server') await rawServer()
  else if (mode === 'ours-server') await oursServer()
  else if (mode === 'raw-client') {
    process.stdout.write(`${JSON.stringify(await rawClient(Number(port), kind))}\n`)
    process.exit(0)
  } else if (mode === 'load-client') {
    process.stdout.write(`${JSON.stringify(await loadClient(Number(port), kind))}\n`)
    process.exit(0)
  } else if (mode === 'ours-client') {
    process.stdout.write(`${JSON.stringify(await oursClient(Number(port), kind))}\n`)
    process.exit(0)
  }
}
