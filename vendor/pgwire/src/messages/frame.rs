//! lakegate patch (see vendor/README.md): structural checks of a frontend message body before
//! its decoder runs. The decoders read with `bytes`' panicking getters and trust the lengths
//! and counts they read, so a malformed frame panicked the connection task; here it becomes
//! an `InvalidMessageFormat` error (08P01, FATAL) instead.

struct Body<'a>(&'a [u8]);

impl Body<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], &'static str> {
        if self.0.len() < n {
            return Err("message body too short for its fields");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn cstring(&mut self) -> Result<(), &'static str> {
        let end = self
            .0
            .iter()
            .position(|b| *b == 0)
            .ok_or("string without its terminating NUL")?;
        self.0 = &self.0[end + 1..];
        Ok(())
    }
    fn u16(&mut self) -> Result<usize, &'static str> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
    }
    fn i32(&mut self) -> Result<i32, &'static str> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Whether `body` (the bytes after the length) is a well-formed message of type `tag`.
pub(crate) fn check(tag: u8, body: &[u8]) -> Result<(), &'static str> {
    let mut b = Body(body);
    match tag {
        b'Q' | b'f' => b.cstring(),
        b'P' => {
            b.cstring()?;
            b.cstring()?;
            let n = b.u16()?;
            b.take(n * 4).map(|_| ())
        }
        b'B' => {
            b.cstring()?;
            b.cstring()?;
            let formats = b.u16()?;
            b.take(formats * 2)?;
            for _ in 0..b.u16()? {
                let len = b.i32()?;
                if len < -1 {
                    return Err("negative parameter length");
                }
                if len > 0 {
                    b.take(len as usize)?;
                }
            }
            let results = b.u16()?;
            b.take(results * 2).map(|_| ())
        }
        b'C' | b'D' => {
            b.take(1)?;
            b.cstring()
        }
        b'E' => {
            b.cstring()?;
            b.i32().map(|_| ())
        }
        _ => Ok(()),
    }
}
