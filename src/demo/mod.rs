//! The built-in demo lake: a small video streaming business.
//!
//! Zones and tables, written with the same Delta writer a real pipeline would use:
//! - `landing/watch_events/<day>/<watermark>/events.csv`: raw deliveries (files, not tables)
//! - `bronze.watch_events`: typed events, partitioned by `event_date`
//! - `silver.users` (4 versions: create, update, delete, append), `silver.titles`,
//!   `silver.subscriptions`, `silver.watch_events` (partitioned)
//! - `gold.daily_watch_time`, `gold.plan_revenue`: models computed with SQL over silver
//!
//! Between them the tables carry every common column type: bool, int8/16/32/64, float32/64,
//! decimal, string, binary, date, timestamp (UTC and without zone), list, struct and map.
//! Data is generated deterministically so tests and docs can rely on it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::*;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::protocol::SaveMode;

/// Marks a folder as written by `lakegate demo`, so `--fresh` only ever deletes a demo lake.
const MARKER: &str = "_lakegate/demo-lake";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("Failed to write demo lake at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Failed to write demo table {table}: {source}")]
    Delta {
        table: String,
        source: deltalake::DeltaTableError,
    },
    #[error("Failed to compute demo model {table}: {source}")]
    Model {
        table: String,
        source: datafusion::error::DataFusionError,
    },
    #[error(
        "{0} exists and is not a demo lake; choose another --dir (lakegate never overwrites it)"
    )]
    NotADemoLake(PathBuf),
}

type Result<T, E = DemoError> = std::result::Result<T, E>;

/// Deterministic pseudo-random numbers (SplitMix64) so the demo is the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const DAY0: i32 = 19_875; // 2024-06-01
const DAYS: i32 = 14;
const USERS: i64 = 400;
const TITLES: i32 = 60;
const COUNTRIES: &[&str] = &["US", "GB", "DE", "FR", "BR", "IN", "JP", "NL"];
const DEVICES: &[&str] = &["tv", "mobile", "web", "tablet"];
const PLANS: &[(&str, i128)] = &[("basic", 799), ("standard", 1299), ("premium", 1999)];

/// Writes the demo lake into `dir` unless it is already there; returns the absolute path.
pub async fn write_demo_lake(dir: &Path, fresh: bool) -> Result<PathBuf> {
    let io = |source| DemoError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let is_demo = dir.join(MARKER).exists();
    if dir.exists() && !is_demo && std::fs::read_dir(dir).map_err(io)?.next().is_some() {
        return Err(DemoError::NotADemoLake(dir.to_path_buf()));
    }
    if is_demo && !fresh {
        return std::fs::canonicalize(dir).map_err(io);
    }
    if is_demo {
        std::fs::remove_dir_all(dir).map_err(io)?;
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    let root = std::fs::canonicalize(dir).map_err(io)?;
    tracing::info!(path = %root.display(), "writing demo lake");

    let users = users_batch(0, USERS);
    let titles = titles_batch();
    let subs = subscriptions_batch();
    let events = events_batch();

    write_landing(&root, &events)?;
    write(
        &root,
        "bronze/watch_events",
        vec![events.clone()],
        &["event_date"],
    )
    .await?;
    write(&root, "silver/watch_events", vec![events], &["event_date"]).await?;
    write(&root, "silver/titles", vec![titles], &[]).await?;
    write(&root, "silver/subscriptions", vec![subs], &[]).await?;

    // silver.users gets a history: v0 create, v1 update, v2 delete, v3 append.
    let t = write(&root, "silver/users", vec![users], &[]).await?;
    let delta_err = |source| DemoError::Delta {
        table: "silver/users".into(),
        source,
    };
    let (t, _) = t
        .update()
        .with_predicate("country = 'NL'")
        .with_update("is_active", "false")
        .await
        .map_err(delta_err)?;
    let (t, _) = t
        .delete()
        .with_predicate("user_id % 50 = 7")
        .await
        .map_err(delta_err)?;
    t.write(vec![users_batch(USERS, 20)])
        .with_save_mode(SaveMode::Append)
        .await
        .map_err(delta_err)?;

    write_gold(&root).await?;
    let marker = root.join(MARKER);
    std::fs::create_dir_all(marker.parent().expect("marker has a parent")).map_err(io)?;
    std::fs::write(&marker, "written by `lakegate demo`\n").map_err(io)?;
    Ok(root)
}

async fn write(
    root: &Path,
    rel: &str,
    batches: Vec<RecordBatch>,
    partitions: &[&str],
) -> Result<DeltaTable> {
    let delta_err = |source| DemoError::Delta {
        table: rel.to_string(),
        source,
    };
    let url = deltalake::ensure_table_uri(root.join(rel).to_string_lossy()).map_err(delta_err)?;
    let table = DeltaTable::try_from_url(url).await.map_err(delta_err)?;
    let mut w = table
        .write(batches)
        .with_save_mode(SaveMode::Overwrite)
        .with_table_name(rel.rsplit('/').next().unwrap_or(rel));
    if !partitions.is_empty() {
        w = w.with_partition_columns(partitions.iter().map(|p| p.to_string()));
    }
    w.await.map_err(delta_err)
}

fn users_batch(first: i64, n: i64) -> RecordBatch {
    let mut rng = Rng(42 + first as u64);
    let ids: Vec<i64> = (first + 1..=first + n).collect();
    let emails: Vec<String> = ids.iter().map(|i| format!("user{i}@example.com")).collect();
    let countries: Vec<&str> = ids.iter().map(|_| rng.pick(COUNTRIES)).collect();
    let signup: Vec<i32> = ids
        .iter()
        .map(|_| DAY0 - 400 + rng.below(400) as i32)
        .collect();
    let birth: Vec<Option<i16>> = ids
        .iter()
        .map(|i| (i % 9 != 0).then(|| 1950 + rng.below(55) as i16))
        .collect();
    let active: Vec<bool> = ids.iter().map(|i| i % 11 != 0).collect();
    let mut prefs = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    let mut langs = ListBuilder::new(StringBuilder::new());
    for i in &ids {
        prefs.keys().append_value("subtitles");
        prefs
            .values()
            .append_value(if i % 2 == 0 { "on" } else { "off" });
        prefs.keys().append_value("quality");
        prefs
            .values()
            .append_value(["auto", "hd", "4k"][(*i % 3) as usize]);
        prefs.append(true).expect("map entry");
        langs.values().append_value("en");
        if i % 4 == 0 {
            langs.values().append_value("de");
        }
        langs.append(true);
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("email", DataType::Utf8, false),
        Field::new("country", DataType::Utf8, true),
        Field::new("signup_date", DataType::Date32, true),
        Field::new("birth_year", DataType::Int16, true),
        Field::new("is_active", DataType::Boolean, true),
        Field::new("preferences", prefs_type(), true),
        Field::new(
            "languages",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(emails)),
            Arc::new(StringArray::from(countries)),
            Arc::new(Date32Array::from(signup)),
            Arc::new(Int16Array::from(birth)),
            Arc::new(BooleanArray::from(active)),
            Arc::new(prefs.finish()),
            Arc::new(langs.finish()),
        ],
    )
    .expect("users batch matches its schema")
}

fn prefs_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Utf8, true),
            ])),
            false,
        )),
        false,
    )
}

fn titles_batch() -> RecordBatch {
    let mut rng = Rng(7);
    let words = [
        "Night", "River", "Echo", "Signal", "Harbor", "Glass", "Orbit", "Summer", "Iron", "Quiet",
    ];
    let ids: Vec<i32> = (1..=TITLES).collect();
    let names: Vec<String> = ids
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                words[(*i as usize * 7) % 10],
                words[(*i as usize * 3 + 1) % 10]
            )
        })
        .collect();
    let kinds: Vec<&str> = ids
        .iter()
        .map(|i| if i % 3 == 0 { "series" } else { "movie" })
        .collect();
    let release: Vec<i32> = ids.iter().map(|_| DAY0 - rng.below(3650) as i32).collect();
    let runtime: Vec<i16> = ids.iter().map(|_| 20 + rng.below(150) as i16).collect();
    let maturity: Vec<i8> = ids
        .iter()
        .map(|i| [0i8, 7, 13, 16, 18][(*i % 5) as usize])
        .collect();
    let rating: Vec<Option<f32>> = ids
        .iter()
        .map(|i| (i % 13 != 0).then(|| 1.0 + (rng.below(90) as f32) / 10.0))
        .collect();
    let budget: Vec<Option<i128>> = ids
        .iter()
        .map(|i| (i % 4 != 0).then(|| (rng.below(20_000_000) as i128) * 100 + (i % 100) as i128))
        .collect();
    let poster: Vec<Vec<u8>> = ids
        .iter()
        .map(|i| vec![0x89, b'P', b'N', b'G', *i as u8])
        .collect();
    let studios = ["Northlight", "Bluefin", "Paper Moon"];
    let studio: Vec<&str> = ids.iter().map(|i| studios[(*i % 3) as usize]).collect();
    let language: Vec<&str> = ids
        .iter()
        .map(|i| ["en", "de", "ja", "fr"][(*i % 4) as usize])
        .collect();
    let mut genres = ListBuilder::new(StringBuilder::new());
    for i in &ids {
        genres
            .values()
            .append_value(["drama", "comedy", "documentary", "thriller"][(*i % 4) as usize]);
        if i % 2 == 0 {
            genres.values().append_value("family");
        }
        genres.append(true);
    }
    let details = StructArray::from(vec![
        (
            Arc::new(Field::new("studio", DataType::Utf8, true)),
            Arc::new(StringArray::from(studio)) as ArrayRef,
        ),
        (
            Arc::new(Field::new("language", DataType::Utf8, true)),
            Arc::new(StringArray::from(language)) as ArrayRef,
        ),
    ]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("title_id", DataType::Int32, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("release_date", DataType::Date32, true),
        Field::new("runtime_minutes", DataType::Int16, true),
        Field::new("maturity_rating", DataType::Int8, true),
        Field::new("avg_rating", DataType::Float32, true),
        Field::new("budget_usd", DataType::Decimal128(14, 2), true),
        Field::new("poster_thumb", DataType::Binary, true),
        Field::new(
            "genres",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        Field::new("details", details.data_type().clone(), true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int32Array::from(ids)),
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(kinds)),
            Arc::new(Date32Array::from(release)),
            Arc::new(Int16Array::from(runtime)),
            Arc::new(Int8Array::from(maturity)),
            Arc::new(Float32Array::from(rating)),
            Arc::new(
                Decimal128Array::from(budget)
                    .with_precision_and_scale(14, 2)
                    .expect("valid decimal"),
            ),
            Arc::new(BinaryArray::from_iter_values(poster)),
            Arc::new(genres.finish()),
            Arc::new(details),
        ],
    )
    .expect("titles batch matches its schema")
}

fn subscriptions_batch() -> RecordBatch {
    let mut rng = Rng(99);
    let n = USERS as usize + 80;
    let ids: Vec<i64> = (1..=n as i64).collect();
    let users: Vec<i64> = ids.iter().map(|i| ((i - 1) % USERS) + 1).collect();
    let plans: Vec<(&str, i128)> = ids.iter().map(|_| PLANS[rng.below(3) as usize]).collect();
    let started: Vec<i64> = ids
        .iter()
        .map(|_| {
            (DAY0 as i64 - rng.below(300) as i64) * 86_400_000_000
                + rng.below(86_400) as i64 * 1_000_000
        })
        .collect();
    let ended: Vec<Option<i64>> = ids
        .iter()
        .zip(&started)
        .map(|(i, s)| {
            (*i > USERS || i % 7 == 0).then(|| s + (30 + rng.below(90) as i64) * 86_400_000_000)
        })
        .collect();
    let trial: Vec<bool> = ids.iter().map(|i| i % 5 == 0).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("subscription_id", DataType::Int64, false),
        Field::new("user_id", DataType::Int64, false),
        Field::new("plan", DataType::Utf8, false),
        Field::new("monthly_price", DataType::Decimal128(6, 2), false),
        Field::new(
            "started_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(
            "ended_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("is_trial", DataType::Boolean, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(Int64Array::from(users)),
            Arc::new(StringArray::from(
                plans.iter().map(|p| p.0).collect::<Vec<_>>(),
            )),
            Arc::new(
                Decimal128Array::from(plans.iter().map(|p| p.1).collect::<Vec<_>>())
                    .with_precision_and_scale(6, 2)
                    .expect("valid decimal"),
            ),
            Arc::new(TimestampMicrosecondArray::from(started).with_timezone("UTC")),
            Arc::new(TimestampMicrosecondArray::from(ended).with_timezone("UTC")),
            Arc::new(BooleanArray::from(trial)),
        ],
    )
    .expect("subscriptions batch matches its schema")
}

fn events_batch() -> RecordBatch {
    let mut rng = Rng(2024);
    let mut id = Vec::new();
    let mut user = Vec::new();
    let mut title = Vec::new();
    let mut date = Vec::new();
    let mut ts = Vec::new();
    let mut local = Vec::new();
    let mut secs = Vec::new();
    let mut device = Vec::new();
    let mut completed = Vec::new();
    let mut next = 1i64;
    for day in 0..DAYS {
        let per_day = 300 + rng.below(200);
        for _ in 0..per_day {
            let t = (DAY0 + day) as i64 * 86_400_000_000 + rng.below(86_400_000) as i64 * 1_000;
            id.push(next);
            next += 1;
            user.push(1 + rng.below(USERS as u64) as i64);
            title.push(1 + rng.below(TITLES as u64) as i32);
            date.push(DAY0 + day);
            ts.push(t);
            local.push(t + (rng.below(25) as i64 - 12) * 3_600_000_000);
            let s = 30 + rng.below(7200) as i32;
            secs.push(s);
            device.push(rng.pick(DEVICES));
            completed.push(s > 2400);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Int64, false),
        Field::new("user_id", DataType::Int64, false),
        Field::new("title_id", DataType::Int32, false),
        Field::new("event_date", DataType::Date32, false),
        Field::new(
            "event_ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(
            "local_ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("seconds_watched", DataType::Int32, false),
        Field::new("device", DataType::Utf8, false),
        Field::new("completed", DataType::Boolean, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(id)),
            Arc::new(Int64Array::from(user)),
            Arc::new(Int32Array::from(title)),
            Arc::new(Date32Array::from(date)),
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(TimestampMicrosecondArray::from(local)),
            Arc::new(Int32Array::from(secs)),
            Arc::new(StringArray::from(device)),
            Arc::new(BooleanArray::from(completed)),
        ],
    )
    .expect("events batch matches its schema")
}

/// Raw CSV deliveries per day, as an upstream system would drop them.
fn write_landing(root: &Path, events: &RecordBatch) -> Result<()> {
    let dates = events
        .column(3)
        .as_primitive::<datafusion::arrow::datatypes::Date32Type>();
    let formatter = |c: usize| {
        datafusion::arrow::util::display::ArrayFormatter::try_new(
            events.column(c).as_ref(),
            &Default::default(),
        )
        .expect("displayable column")
    };
    let cols: Vec<_> = (0..events.num_columns()).map(formatter).collect();
    let mut by_day: std::collections::BTreeMap<i32, String> = Default::default();
    for row in 0..events.num_rows() {
        let text = by_day.entry(dates.value(row)).or_insert_with(|| {
            "event_id,user_id,title_id,event_date,event_ts,local_ts,seconds_watched,device,completed\n"
                .to_string()
        });
        let line: Vec<String> = cols.iter().map(|f| f.value(row).to_string()).collect();
        text.push_str(&line.join(","));
        text.push('\n');
    }
    for (day, text) in by_day {
        let date = chrono::DateTime::from_timestamp(day as i64 * 86_400, 0)
            .expect("valid day")
            .format("%Y-%m-%d")
            .to_string();
        let watermark = chrono::DateTime::from_timestamp((day as i64 + 1) * 86_400 + 3_600, 0)
            .expect("valid day")
            .format("%Y%m%dT%H%M%S")
            .to_string();
        let dir = root
            .join("landing/watch_events")
            .join(&date)
            .join(watermark);
        let io = |source| DemoError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::write(dir.join("events.csv"), text).map_err(io)?;
    }
    Ok(())
}

/// Gold models are SQL over silver, as a data team would define them.
async fn write_gold(root: &Path) -> Result<()> {
    let ctx = SessionContext::new();
    for t in ["users", "titles", "subscriptions", "watch_events"] {
        let url = deltalake::ensure_table_uri(root.join("silver").join(t).to_string_lossy())
            .map_err(|source| DemoError::Delta {
                table: format!("silver/{t}"),
                source,
            })?;
        let table = deltalake::open_table(url)
            .await
            .map_err(|source| DemoError::Delta {
                table: format!("silver/{t}"),
                source,
            })?;
        let provider = crate::catalog::delta_provider(&table)
            .await
            .map_err(|source| DemoError::Model {
                table: format!("silver/{t}"),
                source,
            })?;
        ctx.register_table(t, provider)
            .map_err(|source| DemoError::Model {
                table: format!("silver/{t}"),
                source,
            })?;
    }
    let models = [
        (
            "gold/daily_watch_time",
            "SELECT e.event_date, u.country, \
                    CAST(SUM(e.seconds_watched) AS DOUBLE) / 60.0 AS minutes_watched, \
                    COUNT(DISTINCT e.user_id) AS viewers, \
                    CAST(SUM(CASE WHEN e.completed THEN 1 ELSE 0 END) AS BIGINT) AS completions \
             FROM watch_events e JOIN users u ON u.user_id = e.user_id \
             GROUP BY e.event_date, u.country ORDER BY e.event_date, u.country",
        ),
        (
            "gold/plan_revenue",
            "SELECT plan, COUNT(*) AS active_subscriptions, \
                    CAST(SUM(monthly_price) AS DECIMAL(12,2)) AS monthly_recurring_revenue \
             FROM subscriptions WHERE ended_at IS NULL AND NOT is_trial \
             GROUP BY plan ORDER BY plan",
        ),
    ];
    for (rel, sql) in models {
        let model_err = |source| DemoError::Model {
            table: rel.to_string(),
            source,
        };
        let batches = ctx
            .sql(sql)
            .await
            .map_err(model_err)?
            .collect()
            .await
            .map_err(model_err)?;
        // Delta stores strings as plain Utf8; the reader may hand out views.
        let batches = batches
            .into_iter()
            .map(|b| plain_strings(&b))
            .collect::<Vec<_>>();
        write(root, rel, batches, &[]).await?;
    }
    Ok(())
}

fn plain_strings(b: &RecordBatch) -> RecordBatch {
    let mut fields = Vec::new();
    let mut cols = Vec::new();
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        let (t, c) = match c.data_type() {
            DataType::Utf8View | DataType::Dictionary(..) => (
                DataType::Utf8,
                datafusion::arrow::compute::cast(c, &DataType::Utf8).expect("string cast"),
            ),
            other => (other.clone(), c.clone()),
        };
        fields.push(Field::new(f.name(), t, f.is_nullable()));
        cols.push(c);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("same columns")
}
