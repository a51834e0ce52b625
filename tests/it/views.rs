//! Versioned views: load order, hot reload, last good definition on error, git, history, check.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lakegate::server::start;

use crate::common::*;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    // Write-then-rename, as editors and git do.
    let tmp = p.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &p).unwrap();
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct ViewsServer {
    t: TestServer,
    views: std::path::PathBuf,
}

async fn with_views(files: &[(&str, &str)]) -> ViewsServer {
    let dir = tempfile::TempDir::new().unwrap().keep();
    let lake = lakegate::demo::write_demo_lake(&dir.join("lake"), false)
        .await
        .unwrap();
    let views = dir.join("repo/views");
    for (rel, text) in files {
        write(&views, rel, text);
    }
    let mut config = config(&lake);
    config.views = Some(lakegate::config::ViewsSource::Folder(views.clone()));
    let server = start(config).await.unwrap();
    ViewsServer {
        t: TestServer::from_parts(server, lake, dir),
        views,
    }
}

async fn status(c: &tokio_postgres::Client, name: &str) -> (String, Option<String>) {
    let row = c
        .query_one(
            "SELECT status, error FROM lakegate.views WHERE name = $1",
            &[&name],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn scalar(c: &tokio_postgres::Client, sql: &str) -> Result<i64, String> {
    c.query_one(sql, &[])
        .await
        .map(|r| r.get::<_, i64>(0))
        .map_err(|e| code(&e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_load_in_dependency_order_and_reload_within_a_second() {
    // `a_top` depends on `b_base`, which sorts after it.
    let s = with_views(&[
        (
            "gold/a_top.sql",
            "SELECT country, n FROM gold.b_base WHERE n > 10",
        ),
        (
            "gold/b_base.sql",
            "-- base view\nSELECT country, COUNT(*) AS n FROM silver.users GROUP BY country",
        ),
        (
            "gold/b_base.yaml",
            "description: Users per country.\nowner: analytics\n",
        ),
    ])
    .await;
    let c = s.t.connect().await;
    assert_eq!(status(&c, "a_top").await.0, "ok");
    let countries = scalar(&c, "SELECT count(*) FROM gold.a_top").await.unwrap();
    assert!(countries > 0);
    let row = c
        .query_one(
            "SELECT description, definition FROM lakegate.views WHERE name = 'b_base'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("Users per country.")
    );
    assert!(row.get::<_, String>(1).contains("COUNT(*)"));
    // Views are listed as views (relkind v) for \dv.
    let kinds: Vec<String> = c
        .query(
            "SELECT c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'gold' AND c.relname IN ('a_top', 'b_base')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    assert_eq!(kinds, vec!["v", "v"]);

    // Edit: served to new queries within a second.
    write(
        &s.views,
        "gold/a_top.sql",
        "SELECT country, n FROM gold.b_base WHERE n > 100000",
    );
    assert!(
        eventually(Duration::from_secs(1), || async {
            scalar(&c, "SELECT count(*) FROM gold.a_top").await == Ok(0)
        })
        .await,
        "edit served within 1 s"
    );

    // Broken edit: the last good definition keeps serving, the error is visible with file:line.
    write(
        &s.views,
        "gold/b_base.sql",
        "SELECT country,\n  COUNT(*) AS n,\n  no_such_column\nFROM silver.users GROUP BY country",
    );
    assert!(
        eventually(Duration::from_secs(1), || async {
            status(&c, "b_base").await.0 == "error"
        })
        .await,
        "error reported"
    );
    let (_, err) = status(&c, "b_base").await;
    let err = err.unwrap();
    assert!(err.contains("b_base.sql:3:"), "{err}");
    assert_eq!(
        scalar(&c, "SELECT count(*) FROM gold.b_base")
            .await
            .unwrap(),
        countries
    );
    assert_eq!(status(&c, "a_top").await.0, "ok", "dependents keep working");

    // Fix: recovered.
    write(
        &s.views,
        "gold/b_base.sql",
        "SELECT country, COUNT(*) * 1000000 AS n FROM silver.users GROUP BY country",
    );
    assert!(
        eventually(Duration::from_secs(1), || async {
            scalar(&c, "SELECT count(*) FROM gold.a_top").await == Ok(countries)
        })
        .await,
        "fixed view and its dependent are served"
    );
    assert_eq!(status(&c, "b_base").await.0, "ok");

    // Delete: gone.
    std::fs::remove_file(s.views.join("gold/a_top.sql")).unwrap();
    assert!(
        eventually(Duration::from_secs(1), || async {
            scalar(&c, "SELECT count(*) FROM gold.a_top").await == Err("42P01".into())
        })
        .await,
        "deleted view disappears"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_and_missing_dependencies_are_reported_and_others_served() {
    let s = with_views(&[
        ("gold/x.sql", "SELECT * FROM gold.y"),
        ("gold/y.sql", "SELECT * FROM gold.x"),
        ("gold/lonely.sql", "SELECT *\nFROM gold.not_there"),
        ("gold/fine.sql", "SELECT 1 AS one"),
    ])
    .await;
    let c = s.t.connect().await;
    let (st, err) = status(&c, "x").await;
    assert_eq!(st, "error");
    assert!(err.unwrap().contains("cycle"));
    let (st, err) = status(&c, "lonely").await;
    assert_eq!(st, "error");
    let err = err.unwrap();
    assert!(err.contains("lonely.sql:2:"), "{err}");
    assert_eq!(
        scalar(&c, "SELECT CAST(one AS BIGINT) FROM gold.fine").await,
        Ok(1)
    );
    assert_eq!(
        scalar(&c, "SELECT count(*) FROM gold.x").await,
        Err("42P01".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_commit_is_reported_and_history_survives_restart() {
    let dir = tempfile::TempDir::new().unwrap();
    let lake = lakegate::demo::write_demo_lake(&dir.path().join("lake"), false)
        .await
        .unwrap();
    let repo = dir.path().join("repo");
    let views = repo.join("views");
    write(
        &views,
        "gold/plans.sql",
        "SELECT plan FROM gold.plan_revenue",
    );
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);

    let mut cfg = config(&lake);
    cfg.views = Some(lakegate::config::ViewsSource::Folder(views.clone()));
    let server = start(cfg.clone()).await.unwrap();
    let c = connect_to(&server, "lake").await.unwrap();
    let row = c
        .query_one("SELECT commit, uncommitted_changes, commit_time IS NOT NULL FROM lakegate.views WHERE name = 'plans'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<String>>(0), Some(head.clone()));
    assert_eq!(row.get::<_, Option<bool>>(1), Some(false));
    assert!(row.get::<_, bool>(2));

    // An uncommitted edit is served and flagged.
    write(
        &views,
        "gold/plans.sql",
        "SELECT plan, active_subscriptions FROM gold.plan_revenue",
    );
    assert!(
        eventually(Duration::from_secs(1), || async {
            c.query_one(
                "SELECT uncommitted_changes FROM lakegate.views WHERE name = 'plans'",
                &[],
            )
            .await
            .map(|r| r.get::<_, Option<bool>>(0) == Some(true))
            .unwrap_or(false)
        })
        .await
    );
    assert!(
        eventually(Duration::from_secs(2), || async {
            scalar(
                &c,
                "SELECT count(*) FROM lakegate.view_history WHERE name = 'plans'",
            )
            .await
                == Ok(2)
        })
        .await,
        "both definitions recorded"
    );
    drop(c);
    server.stop().await;

    // After a restart the history is still there, and an unchanged definition is not re-recorded.
    let server = start(cfg).await.unwrap();
    let c = connect_to(&server, "lake").await.unwrap();
    let rows = c
        .query(
            "SELECT commit, definition FROM lakegate.view_history WHERE name = 'plans' ORDER BY served_from",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<_, Option<String>>(0), Some(head));
    assert!(rows[1].get::<_, String>(1).contains("active_subscriptions"));
    server.stop().await;
}

#[test]
fn check_fails_on_a_bad_view_with_file_and_line() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let lake = rt
        .block_on(lakegate::demo::write_demo_lake(
            &dir.path().join("lake"),
            false,
        ))
        .unwrap();
    let views = dir.path().join("views");
    write(
        &views,
        "gold/good.sql",
        "SELECT plan FROM gold.plan_revenue",
    );
    write(
        &views,
        "gold/bad.sql",
        "SELECT plan,\n       missing_column\nFROM gold.plan_revenue",
    );
    let cfg = dir.path().join("lakegate.yaml");
    std::fs::write(
        &cfg,
        format!("lake: {}\nviews: {}\n", lake.display(), views.display()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lakegate"))
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.sql:2:"), "{err}");
    std::fs::remove_file(views.join("gold/bad.sql")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lakegate"))
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_follow_a_git_branch_and_survive_fetch_failures() {
    let dir = tempfile::TempDir::new().unwrap();
    let lake = lakegate::demo::write_demo_lake(&dir.path().join("lake"), false)
        .await
        .unwrap();
    let origin = dir.path().join("origin.git");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&origin).unwrap();
    git(&origin, &["init", "-q", "--bare", "-b", "main"]);
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    git(&work, &["checkout", "-q", "-b", "main"]);
    write(
        &work,
        "views/gold/plans.sql",
        "SELECT plan FROM gold.plan_revenue",
    );
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "v1"]);
    git(&work, &["push", "-q", "origin", "main"]);
    let first = git(&work, &["rev-parse", "HEAD"]);

    let mut cfg = config(&lake);
    cfg.views = Some(lakegate::config::ViewsSource::Git(
        lakegate::config::GitViews {
            git: origin.to_string_lossy().into_owned(),
            branch: "main".into(),
            path: "views".into(),
            poll: Duration::from_millis(200),
            cache: Some(dir.path().join("cache")),
        },
    ));
    let server = start(cfg).await.unwrap();
    let c = connect_to(&server, "lake").await.unwrap();
    assert_eq!(commit(&c).await, Some(first));

    write(
        &work,
        "views/gold/plans.sql",
        "SELECT plan, active_subscriptions FROM gold.plan_revenue",
    );
    git(&work, &["commit", "-q", "-am", "v2"]);
    git(&work, &["push", "-q", "origin", "main"]);
    let second = git(&work, &["rev-parse", "HEAD"]);
    assert!(
        eventually(Duration::from_secs(3), || async {
            commit(&c).await == Some(second.clone())
        })
        .await,
        "new commit served"
    );
    c.query("SELECT active_subscriptions FROM gold.plans", &[])
        .await
        .unwrap();

    // The remote goes away: the last good commit keeps serving.
    std::fs::rename(&origin, dir.path().join("gone.git")).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(commit(&c).await, Some(second));
    c.query("SELECT active_subscriptions FROM gold.plans", &[])
        .await
        .unwrap();
    server.stop().await;
}

async fn commit(c: &tokio_postgres::Client) -> Option<String> {
    c.query_one(
        "SELECT commit FROM lakegate.views WHERE name = 'plans'",
        &[],
    )
    .await
    .ok()
    .and_then(|r| r.get::<_, Option<String>>(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_lists_views_with_descriptions_and_definitions() {
    let s = with_views(&[
        ("gold/plans.sql", "-- revenue per plan\nSELECT plan, active_subscriptions FROM gold.plan_revenue"),
        (
            "gold/plans.yaml",
            "description: Revenue per plan.\ncolumns:\n  active_subscriptions: Paying, not ended.\n",
        ),
    ])
    .await;
    let c = s.t.connect().await;
    // What drivers call: obj_description / col_description / pg_get_viewdef / pg_views.
    let row = c
        .query_one(
            "SELECT obj_description(c.oid, 'pg_class'), col_description(c.oid, 2), pg_get_viewdef(c.oid, true), \
                    (SELECT definition FROM pg_catalog.pg_views v WHERE v.viewname = 'plans') \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'gold' AND c.relname = 'plans'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("Revenue per plan.")
    );
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("Paying, not ended.")
    );
    assert!(
        row.get::<_, Option<String>>(2)
            .unwrap()
            .contains("FROM gold.plan_revenue")
    );
    assert!(
        row.get::<_, Option<String>>(3)
            .unwrap()
            .contains("active_subscriptions")
    );

    // psql itself, as a user would run it.
    let addr = s.t.server.addr;
    let psql = |cmd: &str| {
        let out = Command::new("psql")
            .args([
                "-X",
                "-h",
                &addr.ip().to_string(),
                "-p",
                &addr.port().to_string(),
                "-U",
                "t",
                "lake",
                "-c",
                cmd,
            ])
            .output()
            .expect("psql is installed (postgresql-client)");
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dv = psql("\\dv+ gold.*");
    assert!(
        dv.contains("plans") && dv.contains("Revenue per plan."),
        "{dv}"
    );
    let d = psql("\\d+ gold.plans");
    assert!(d.contains("View \"gold.plans\""), "{d}");
    assert!(d.contains("Paying, not ended."), "{d}");
    assert!(
        d.contains("View definition:") && d.contains("FROM gold.plan_revenue"),
        "{d}"
    );
    let dt = psql("\\d silver.titles");
    assert!(
        dt.contains("numeric(14,2)") && dt.contains("text[]") && dt.contains("not null"),
        "{dt}"
    );
}
