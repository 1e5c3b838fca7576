// Listen addresses for a backbone node, built from one host and a port per transport.

/** Where a backbone node listens unless told otherwise. TCP and UDP may share a port number. */
export const ListenDefaults = Object.freeze({
  host: '0.0.0.0',
  tcpPort: 4001,
  wsPort: 4002,
  webrtcDirectPort: 4001
})

export interface ListenPorts {
  /** IPv4 or IPv6 literal; '0.0.0.0' / '::' listen on every interface. */
  host?: string
  /** Port for plain TCP; null leaves the transport off, 0 picks a free port. */
  tcpPort?: number | null
  /** Port for WebSockets (ws://, for browsers that cannot use WebRTC-Direct); null leaves it off. */
  wsPort?: number | null
  /** UDP port for WebRTC-Direct (browsers dial it); null leaves it off. */
  webrtcDirectPort?: number | null
}

/** The multiaddr protocol prefix for a host literal: IPv6 literals contain ':'. */
function ipPrefix (host: string): string {
  return host.includes(':') ? `/ip6/${host}` : `/ip4/${host}`
}

function checkPort (name: string, port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`${name} must be an integer in 0..65535, got ${port}`)
  }
}

/**
 * Multiaddrs to listen on: TCP, WebSockets and WebRTC-Direct on `host`, each on its own port.
 * Missing fields take ListenDefaults; a port of null leaves that transport out.
 */
export function listenAddresses (ports: ListenPorts = {}): string[] {
  const ip = ipPrefix(ports.host ?? ListenDefaults.host)
  const tcpPort = ports.tcpPort === undefined ? ListenDefaults.tcpPort : ports.tcpPort
  const wsPort = ports.wsPort === undefined ? ListenDefaults.wsPort : ports.wsPort
  const udpPort = ports.webrtcDirectPort === undefined ? ListenDefaults.webrtcDirectPort : ports.webrtcDirectPort
  const addresses: string[] = []
  if (tcpPort != null) {
    checkPort('tcpPort', tcpPort)
    addresses.push(`${ip}/tcp/${tcpPort}`)
  }
  if (wsPort != null) {
    checkPort('wsPort', wsPort)
    addresses.push(`${ip}/tcp/${wsPort}/ws`)
  }
  if (udpPort != null) {
    checkPort('webrtcDirectPort', udpPort)
    addresses.push(`${ip}/udp/${udpPort}/webrtc-direct`)
  }
  return addresses
}
