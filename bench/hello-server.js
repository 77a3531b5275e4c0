// The ceiling: Fastify's hello world, in its own process like the super-node under test.
import Fastify from 'fastify'

const app = Fastify({ logger: false })
app.get('/', async () => ({ hello: 'world' }))
await app.listen({ host: '127.0.0.1', port: Number(process.argv[2]) })
process.on('SIGTERM', () => app.close().then(() => process.exit(0)))
