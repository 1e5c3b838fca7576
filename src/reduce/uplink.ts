/**
 * The reduce protocol: how a super-peer or tier sends partials to its parent (docs/protocol.md,
 * "Partials up the tree"). One stream per document: length-prefixed messages (unsigned varint
 * length, as @libp2p/utils lpStream writes), the first the document id in UTF-8, each later one
 * a partial's bytes (src/reduce/partial.ts). The parent answers nothing: acknowledgements come
 * down the signed log ("@input"), so a stream is one-way and a child may resend at will.
 */
export const REDUCE_PROTOCOL = '/deltacast/reduce/1.0.0'

/** Largest message on a reduce stream (a partial of many origins' windows). */
export const MAX_REDUCE_MESSAGE_BYTES = 4 * 1024 * 1024

/** Largest first message (a doc id is at most 117 bytes). */
export const MAX_DOC_ID_BYTES = 256
