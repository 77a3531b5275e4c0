// The ClientRepository conformance suite on the SQLite home (what createNodeClient uses).
import t from 'tap'
import { openClientStore, SqliteClientRepository } from '@passage/sdk/node'
import {
  attachmentRepositoryConformance,
  clientRepositoryConformance,
  tmpHome,
} from '@passage/sdk/testing'

clientRepositoryConformance(
  t,
  async (t) => new SqliteClientRepository(await openClientStore(tmpHome(t, 'repository'))),
)

attachmentRepositoryConformance(
  t,
  async (t) => new SqliteClientRepository(await openClientStore(tmpHome(t, 'attachments'))),
)
