import QRCode from 'qrcode'

/**
 * A QR code for the terminal: ANSI half blocks in colour, plain Unicode blocks when colour is
 * off (NO_COLOR, not a terminal), so it still shows and scans when piped to a file.
 */
export async function qr(text: string, options: { color: boolean }): Promise<string> {
  return options.color
    ? QRCode.toString(text, { type: 'terminal', small: true })
    : QRCode.toString(text, { type: 'utf8' })
}
