/** xxd-like dump, 16 bytes a line, as printed in docs/protocol.md. */
export function hexDump (bytes: Uint8Array): string {
  const lines: string[] = []
  for (let i = 0; i < bytes.length; i += 16) {
    const row = [...bytes.subarray(i, i + 16)].map(b => b.toString(16).padStart(2, '0')).join(' ')
    lines.push(`${i.toString(16).padStart(4, '0')}  ${row}`)
  }
  return lines.join('\n')
}
