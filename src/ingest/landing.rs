//! The landing zone: which slices a source delivered, and their data files.

use super::*;

/// The slices a source has delivered: slice id → (greatest watermark, its folder).
pub async fn discover(
    lake: &LakePath,
    source: &str,
) -> Result<BTreeMap<String, (Watermark, LakePath)>> {
    let root = lake.join("landing").join(source);
    let mut out = BTreeMap::new();
    for name in root.folders().await? {
        if name.starts_with(['.', '_']) {
            continue;
        }
        let slice = root.join(&name);
        let best = slice
            .folders()
            .await?
            .into_iter()
            .filter(|m| !m.starts_with(['.', '_']))
            .map(|m| (Watermark::parse(&m), slice.join(&m)))
            .max_by(|a, b| a.0.cmp(&b.0));
        if let Some(b) = best {
            out.insert(name, b);
        }
    }
    Ok(out)
}

pub(super) async fn data_files(
    dir: &LakePath,
    format: SourceFormat,
) -> Result<Vec<object_store::ObjectMeta>> {
    let exts: &[&str] = match format {
        SourceFormat::Csv => &[".csv", ".csv.gz", ".tsv", ".txt"],
        SourceFormat::Json => &[
            ".json",
            ".jsonl",
            ".ndjson",
            ".json.gz",
            ".jsonl.gz",
            ".ndjson.gz",
        ],
        SourceFormat::Parquet => &[".parquet"],
    };
    let mut files: Vec<object_store::ObjectMeta> = dir
        .files()
        .await?
        .into_iter()
        .filter(|m| {
            let n = m.location.filename().unwrap_or_default().to_lowercase();
            !n.starts_with(['.', '_']) && exts.iter().any(|e| n.ends_with(e))
        })
        .collect();
    files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(files)
}
