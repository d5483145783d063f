//! Trace files on disk: zstd (what [`write_file`] makes), xz or plain text, told apart by their
//! first bytes.

use std::fmt::{self, Display, Formatter};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::format::{Header, Record, Trace};
use crate::parse::{ParseError, Reader};

/// The zstd level traces are written with: small files, and still fast on traces this size.
const ZSTD_LEVEL: i32 = 19;

/// Why a trace file could not be read or written.
#[derive(Debug)]
#[non_exhaustive]
pub enum FileError {
    /// Opening, reading or writing failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The file is compressed but its data is damaged.
    Decompress {
        /// The file.
        path: PathBuf,
        /// What the decompressor said.
        source: io::Error,
    },
    /// The text is not a valid trace.
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why.
        source: ParseError,
    },
}

impl Display for FileError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            FileError::Decompress { path, source } => {
                write!(f, "{}: damaged compressed data: {source}", path.display())
            }
            FileError::Parse { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Io { source, .. } | FileError::Decompress { source, .. } => Some(source),
            FileError::Parse { source, .. } => Some(source),
        }
    }
}

const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];

/// Returns the bytes of `data`, decompressed if they start with a zstd or xz header.
///
/// # Errors
/// The decompressor's error when the compressed data is damaged.
pub fn decompress(data: Vec<u8>) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    if data.starts_with(ZSTD_MAGIC) {
        zstd::stream::read::Decoder::new(&data[..])?.read_to_end(&mut out)?;
    } else if data.starts_with(XZ_MAGIC) {
        xz2::read::XzDecoder::new(&data[..]).read_to_end(&mut out)?;
    } else {
        return Ok(data);
    }
    Ok(out)
}

/// Reads a whole file, decompressing zstd or xz.
///
/// # Errors
/// [`FileError::Io`] or [`FileError::Decompress`].
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, FileError> {
    let data = std::fs::read(path).map_err(|source| FileError::Io {
        path: path.into(),
        source,
    })?;
    decompress(data).map_err(|source| FileError::Decompress {
        path: path.into(),
        source,
    })
}

/// Reads and parses a whole trace file (zstd, xz or plain text) into memory. [`open`] reads
/// one record at a time instead.
///
/// # Errors
/// Any [`FileError`]; a parse error names the file and the line.
pub fn read_file(path: &Path) -> Result<Trace, FileError> {
    let mut reader = open(path)?;
    let records = reader
        .by_ref()
        .map(|item| item.map(|(_, record)| record))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| FileError::Parse {
            path: path.into(),
            source,
        })?;
    Ok(Trace {
        header: reader.header().clone(),
        records,
    })
}

/// A trace file's text, decompressed as it is read.
pub type FileInput = BufReader<Box<dyn Read + Send>>;

/// Opens a trace file (zstd, xz or plain text) for reading one record at a time: memory
/// stays proportional to the largest address space, whatever the length of the trace.
///
/// # Errors
/// [`FileError::Io`] if the file cannot be opened, [`FileError::Decompress`] if its
/// compressed header is damaged, [`FileError::Parse`] for an error in the header lines. Errors
/// further on come from the iterator, as [`ParseError`]s naming the line.
///
/// # Examples
/// ```
/// let path = std::env::temp_dir().join(format!("maple-open-doc-{}.mtrace", std::process::id()));
/// std::fs::write(&path, "#mapletrace 2\nN 1 t1 true\nX 1\n")?;
/// let reader = maple_trace::io::open(&path)?;
/// assert_eq!(reader.count(), 2);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open(path: &Path) -> Result<Reader<FileInput>, FileError> {
    let io_err = |source| FileError::Io {
        path: path.into(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let mut magic = [0u8; 6];
    let mut got = 0;
    while got < magic.len() {
        match file.read(&mut magic[got..]).map_err(io_err)? {
            0 => break,
            n => got += n,
        }
    }
    let head = std::io::Cursor::new(magic[..got].to_vec());
    let raw: Box<dyn Read + Send> = Box::new(head.chain(file));
    let decompress_err = |source| FileError::Decompress {
        path: path.into(),
        source,
    };
    let input: Box<dyn Read + Send> = if magic[..got].starts_with(ZSTD_MAGIC) {
        Box::new(zstd::stream::read::Decoder::new(raw).map_err(decompress_err)?)
    } else if magic[..got].starts_with(XZ_MAGIC) {
        Box::new(xz2::read::XzDecoder::new(raw))
    } else {
        raw
    };
    Reader::new(BufReader::with_capacity(1 << 16, input)).map_err(|source| FileError::Parse {
        path: path.into(),
        source,
    })
}

/// Writes a trace as zstd-compressed text.
///
/// # Errors
/// [`FileError::Io`].
pub fn write_file(path: &Path, trace: &Trace) -> Result<(), FileError> {
    let io_err = |source| FileError::Io {
        path: path.into(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io_err)?;
    write(&file, trace).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

/// Writes a trace as zstd-compressed text to `out`.
///
/// # Errors
/// What writing to `out` failed with.
///
/// # Examples
/// ```
/// let trace = maple_trace::parse(b"#mapletrace 1\nN 1 t1 true\nX 1\n")?;
/// let mut bytes = Vec::new();
/// maple_trace::io::write(&mut bytes, &trace)?;
/// let back = maple_trace::io::decompress(bytes)?;
/// assert_eq!(maple_trace::parse(&back)?, trace);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write(out: impl Write, trace: &Trace) -> io::Result<()> {
    let mut encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
    encoder.write_all(trace.to_string().as_bytes())?;
    encoder.finish()?.flush()
}

/// Writes a trace record by record as zstd-compressed text, so that a long capture needs no
/// memory for what it recorded. [`TraceWriter::flush`] makes everything written so far
/// readable from the file (a capture that is killed keeps it).
///
/// # Examples
/// ```
/// use maple_trace::format::{Header, Op, Record, SpaceId, ThreadId};
/// use maple_trace::io::TraceWriter;
///
/// let mut writer = TraceWriter::new(Vec::new(), &Header::default())?;
/// writer.record(&Record::Op {
///     space: SpaceId(1),
///     thread: Some(ThreadId(1)),
///     op: Op::NewSpace { program: "true".into() },
/// })?;
/// let bytes = writer.finish()?;
/// let text = maple_trace::io::decompress(bytes)?;
/// assert_eq!(text, b"#mapletrace 2\nN 1 t1 true\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TraceWriter<W: Write> {
    out: io::BufWriter<zstd::stream::write::Encoder<'static, W>>,
}

impl<W: Write> std::fmt::Debug for TraceWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceWriter").finish_non_exhaustive()
    }
}

/// The zstd level of traces written as they are recorded: fast enough to keep up with a
/// capture, and a few percent larger than [`ZSTD_LEVEL`].
const STREAM_LEVEL: i32 = 9;

impl<W: Write> TraceWriter<W> {
    /// Starts a trace: writes the first line and the header.
    ///
    /// # Errors
    /// What writing to `out` failed with.
    pub fn new(out: W, header: &Header) -> io::Result<TraceWriter<W>> {
        let encoder = zstd::stream::write::Encoder::new(out, STREAM_LEVEL)?;
        let mut out = io::BufWriter::with_capacity(1 << 16, encoder);
        write!(out, "{header}")?;
        Ok(TraceWriter { out })
    }

    /// Writes one record.
    ///
    /// # Errors
    /// What writing failed with.
    pub fn record(&mut self, record: &Record) -> io::Result<()> {
        writeln!(self.out, "{record}")
    }

    /// Compresses and writes out everything so far.
    ///
    /// # Errors
    /// What writing failed with.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Ends the compressed stream and returns the output.
    ///
    /// # Errors
    /// What writing failed with.
    pub fn finish(self) -> io::Result<W> {
        let encoder = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        let mut out = encoder.finish()?;
        out.flush()?;
        Ok(out)
    }
}
