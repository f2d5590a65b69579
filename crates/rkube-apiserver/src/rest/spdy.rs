//! Just enough of a SPDY/3 client for the runtime's remote-command streams (what the kubelet's
//! streaming server speaks): open streams with SYN_STREAM, send and half-close them with DATA
//! frames, and read DATA, SYN_REPLY, RST_STREAM, PING and GOAWAY frames.
//!
//! Header blocks are written as zlib data made of stored (uncompressed) deflate blocks, each
//! block followed by an empty one (what a sync flush emits): a valid zlib stream that never
//! refers to SPDY's compression dictionary, so the dictionary is not needed here. Header blocks the runtime sends are not decoded (nothing in them is needed).
//! Flow control is not sent: the runtime's SPDY implementation does not enforce windows.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const VERSION: u16 = 3;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const FLAG_FIN: u8 = 0x01;

/// A frame from the runtime.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Data {
        stream: u32,
        fin: bool,
        data: Vec<u8>,
    },
    SynReply {
        stream: u32,
        fin: bool,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Ping(u32),
    GoAway,
    Other,
}

/// The writing half of a client session.
pub struct Writer<W> {
    w: W,
    next_id: u32,
    zlib_started: bool,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    pub fn new(w: W) -> Writer<W> {
        Writer {
            w,
            next_id: 1,
            zlib_started: false,
        }
    }

    /// The zlib bytes of one header block (see the module docs).
    fn header_block(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (k, v) in headers {
            raw.extend_from_slice(&(k.len() as u32).to_be_bytes());
            raw.extend_from_slice(k.to_ascii_lowercase().as_bytes());
            raw.extend_from_slice(&(v.len() as u32).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
        }
        let mut out = Vec::new();
        if !self.zlib_started {
            // CMF 0x78 (deflate, 32K window), FLG 0x01: no preset dictionary; 0x7801 % 31 == 0.
            out.extend_from_slice(&[0x78, 0x01]);
            self.zlib_started = true;
        }
        for chunk in raw.chunks(0xffff) {
            let len = chunk.len() as u16;
            // BFINAL=0, BTYPE=00 (stored), then LEN and its complement, little-endian.
            out.push(0);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        // An empty stored block ends the block like a zlib sync flush does: inflaters hand
        // out what they hold when they reach it, instead of reading on past the frame.
        out.extend_from_slice(&[0, 0, 0, 0xff, 0xff]);
        out
    }

    /// Opens a stream with `headers`; its id.
    pub async fn syn_stream(
        &mut self,
        headers: &[(&str, &str)],
        fin: bool,
    ) -> std::io::Result<u32> {
        let id = self.next_id;
        self.next_id += 2;
        let block = self.header_block(headers);
        let mut payload = Vec::with_capacity(10 + block.len());
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&0u32.to_be_bytes());
        payload.extend_from_slice(&[0, 0]);
        payload.extend_from_slice(&block);
        self.control(SYN_STREAM, if fin { FLAG_FIN } else { 0 }, &payload)
            .await?;
        Ok(id)
    }

    async fn control(&mut self, ty: u16, flags: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut f = Vec::with_capacity(8 + payload.len());
        f.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
        f.extend_from_slice(&ty.to_be_bytes());
        f.push(flags);
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        f.extend_from_slice(payload);
        self.w.write_all(&f).await?;
        self.w.flush().await
    }

    /// Sends data on a stream; `fin` half-closes it.
    pub async fn data(&mut self, stream: u32, data: &[u8], fin: bool) -> std::io::Result<()> {
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(0xff_ffff).collect()
        };
        let n = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut f = Vec::with_capacity(8 + chunk.len());
            f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
            f.push(if fin && i + 1 == n { FLAG_FIN } else { 0 });
            f.extend_from_slice(&(chunk.len() as u32).to_be_bytes()[1..]);
            f.extend_from_slice(chunk);
            self.w.write_all(&f).await?;
        }
        self.w.flush().await
    }

    /// Answers a PING.
    pub async fn pong(&mut self, id: u32) -> std::io::Result<()> {
        self.control(PING, 0, &id.to_be_bytes()).await
    }
}

/// Reads one frame.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Frame> {
    let mut head = [0u8; 8];
    r.read_exact(&mut head).await?;
    let flags = head[4];
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    let word = |i: usize| {
        payload
            .get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    };
    if head[0] & 0x80 == 0 {
        let stream = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
        return Ok(Frame::Data {
            stream,
            fin: flags & FLAG_FIN != 0,
            data: payload,
        });
    }
    let ty = u16::from_be_bytes([head[2], head[3]]);
    Ok(match ty {
        SYN_REPLY => Frame::SynReply {
            stream: word(0) & 0x7fff_ffff,
            fin: flags & FLAG_FIN != 0,
        },
        RST_STREAM => Frame::RstStream {
            stream: word(0) & 0x7fff_ffff,
            status: word(4),
        },
        PING => Frame::Ping(word(0)),
        GOAWAY => Frame::GoAway,
        _ => Frame::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf);
        let a = w
            .syn_stream(&[("streamType", "error")], false)
            .await
            .unwrap();
        let b = w
            .syn_stream(&[("streamType", "stdin")], false)
            .await
            .unwrap();
        assert_eq!((a, b), (1, 3));
        w.data(b, b"hello", false).await.unwrap();
        w.data(b, b"", true).await.unwrap();
        w.pong(7).await.unwrap();
        // First header block: zlib header, then a stored block holding the raw pairs.
        assert_eq!(&buf[0..4], &[0x80, 0x03, 0x00, 0x01]);
        assert_eq!(&buf[18..20], &[0x78, 0x01]);
        assert_eq!(buf[20], 0);
        let raw_len = u16::from_le_bytes([buf[21], buf[22]]) as usize;
        assert_eq!(u16::from_le_bytes([buf[23], buf[24]]), !(raw_len as u16));
        let raw = &buf[25..25 + raw_len];
        assert_eq!(&raw[0..4], &1u32.to_be_bytes());
        assert_eq!(&raw[8..18], b"streamtype");
        assert_eq!(&buf[25 + raw_len..30 + raw_len], &[0, 0, 0, 0xff, 0xff]);
        let mut r = &buf[..];
        assert_eq!(read_frame(&mut r).await.unwrap(), Frame::Other);
        assert_eq!(read_frame(&mut r).await.unwrap(), Frame::Other);
        assert_eq!(
            read_frame(&mut r).await.unwrap(),
            Frame::Data {
                stream: 3,
                fin: false,
                data: b"hello".to_vec()
            }
        );
        assert_eq!(
            read_frame(&mut r).await.unwrap(),
            Frame::Data {
                stream: 3,
                fin: true,
                data: vec![]
            }
        );
        assert_eq!(read_frame(&mut r).await.unwrap(), Frame::Ping(7));
    }
}
