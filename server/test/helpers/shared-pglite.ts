// One PGlite for a whole test process, a schema per test: starting a PGlite costs ~0.4 s.
// Each test's Kysely uses kysely's own PGliteDialect over a view of the shared engine that
// takes its turn on the engine's single session and sets the test's search_path first.
import type { PGlite } from '@electric-sql/pglite'
import type { PGlite as DialectPGlite } from 'kysely'

/**
 * One PGlite used in turns. `pglite` may be swapped for a new instance over the same data
 * folder (a restart) while holding a turn.
 */
export class SharedPGlite {
  /** The session's search_path as last set through a view (unknown after a swap). */
  searchPath: string | undefined
  private tail: Promise<void> = Promise.resolve()

  constructor(public pglite: PGlite) {}

  /** Waits for the engine; call the returned function to hand it on. */
  async acquire(): Promise<() => void> {
    const previous = this.tail
    let release!: () => void
    this.tail = new Promise((resolve) => (release = resolve))
    await previous
    return release
  }
}

/**
 * The shared engine as kysely's PGliteDialect sees it, working in `schema`: every query, and
 * every transaction from BEGIN to its end, runs in a turn of its own after `set search_path`
 * when another view was last. Closing it leaves the engine open (it lives as long as the
 * test process). As with a PGlite of its own, a query on the database (not the transaction)
 * inside `db.transaction()` waits for the transaction forever.
 */
export function schemaView(shared: SharedPGlite, schema: string): DialectPGlite {
  const inTurn = async <T>(fn: (pglite: PGlite) => Promise<T>): Promise<T> => {
    const release = await shared.acquire()
    try {
      if (shared.searchPath !== schema) {
        await shared.pglite.query(`set search_path to "${schema.replace(/"/g, '""')}"`)
        shared.searchPath = schema
      }
      return await fn(shared.pglite)
    } finally {
      release()
    }
  }
  return {
    query: (sql, params, options) => inTurn((pglite) => pglite.query(sql, params, options)),
    transaction: (callback) => inTurn((pglite) => pglite.transaction(callback)),
    close: async () => {},
    get closed() {
      return false
    },
    get ready() {
      return shared.pglite.ready
    },
    get waitReady() {
      return shared.pglite.waitReady
    },
  }
}
