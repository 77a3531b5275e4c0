// A scratch disk whose power can be cut: an ext4 file system in an image file, mounted
// through a loop device. Cutting the power shrinks the loop device to one sector
// (LOOP_SET_STATUS64 with a size limit), at once and without a sync: from then on every
// write the kernel still holds (dirty pages, an unfinished journal) fails to reach the
// image, which keeps exactly what reached the device before the cut. The image is then
// attached and mounted again (journal replay), as a machine coming back up would.
//
// What it does not model: a drive's own volatile write cache (a write that reached the
// device survives even without a flush). What it does: everything the kernel had not
// written out (the page cache), which is what a process that never calls fsync() loses.
//
// Needs root, loop devices, mkfs.ext4 and perl (for the ioctl), as on CI.
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { TeardownHost } from './databases.js'

const run = promisify(execFile)

/** Room for a PGlite folder (~40 MB), its WAL segments (16 MB each) and the journal. */
const IMAGE_BYTES = 256 * 1024 ** 2
/** A command here takes milliseconds; a hung one (a busy device) fails the test instead. */
const COMMAND_TIMEOUT_MS = 20_000

// LOOP_GET_STATUS64 / LOOP_SET_STATUS64 (linux/loop.h); lo_sizelimit is the u64 at byte 32
// of the 232-byte struct loop_info64. A limit of 512 bytes leaves one sector.
const CUT_SCRIPT = `
open(my $fh, '<', $ARGV[0]) or die "open $ARGV[0]: $!\\n";
my $info = "\\0" x 232;
ioctl($fh, 0x4C05, $info) or die "LOOP_GET_STATUS64 $ARGV[0]: $!\\n";
substr($info, 32, 8) = pack('Q<', 512);
ioctl($fh, 0x4C04, $info) or die "LOOP_SET_STATUS64 $ARGV[0]: $!\\n";
`

export interface LoopDisk {
  /** Where the file system is mounted (after {@link LoopDisk.restart}: mounted again). */
  mountPoint: string
  /** Writes back everything of this file system (`sync -f`): the state before a test. */
  sync(): Promise<void>
  /** Cuts the power: no write the kernel still holds reaches the disk any more. */
  cut(): Promise<void>
  /** After {@link LoopDisk.cut}: unmounts, detaches, attaches the image again and mounts it. */
  restart(): Promise<void>
}

/** Makes, mounts and (at teardown) removes a scratch {@link LoopDisk}. */
export async function loopDisk(t: TeardownHost): Promise<LoopDisk> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the power-cut test mounts a loop device and must run as root (CI does); run it with sudo',
    )
  }
  const folder = await mkdtemp(join(tmpdir(), 'passage-power-cut-'))
  const image = join(folder, 'disk.img')
  const mountPoint = join(folder, 'mnt')
  let device: string | undefined
  let mounted = false
  t.teardown(async () => {
    if (mounted)
      await command('umount', [mountPoint]).catch(() => command('umount', ['-l', mountPoint]))
    if (device) await command('losetup', ['-d', device]).catch(() => undefined)
    await rm(folder, { recursive: true, force: true })
  })
  await writeFile(image, '')
  await command('truncate', ['-s', String(IMAGE_BYTES), image])
  await command('mkfs.ext4', ['-q', '-F', image])
  await command('mkdir', [mountPoint])
  const attach = async () => {
    device = (await command('losetup', ['--find', '--show', image])).trim()
    await command('mount', ['-t', 'ext4', device, mountPoint])
    mounted = true
  }
  await attach()
  return {
    mountPoint,
    sync: async () => {
      await command('sync', ['-f', mountPoint])
    },
    cut: async () => {
      await command('perl', ['-e', CUT_SCRIPT, device!])
    },
    restart: async () => {
      // Writing back fails now (the device has one sector): unmounting drops what is left.
      await command('umount', [mountPoint])
      mounted = false
      await command('losetup', ['-d', device!])
      device = undefined
      await attach()
    },
  }
}

async function command(file: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(file, args, { timeout: COMMAND_TIMEOUT_MS })
    return stdout
  } catch (error) {
    const { stderr, code } = error as { stderr?: string; code?: unknown }
    const hint =
      code === 'ENOENT'
        ? ` (${file} is not installed: the power-cut test needs util-linux, e2fsprogs and perl)`
        : ''
    throw new Error(`${file} ${args.join(' ')} failed${hint}: ${stderr?.trim() || String(error)}`)
  }
}
