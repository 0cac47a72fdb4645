//! The interface's languages: the language files agree with each other and with the pages, and
//! every page, opened in headless Chromium in each language, finds every string it asks for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use lectern_e2e::TestServer;
use lectern_proto::Role;
use lectern_testkit::browser::{Browser, Page};
use serde_json::Value;

use crate::pages::LONG;

const LANGUAGES: [&str; 4] = ["en", "fr", "nl", "es"];

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web")
}

/// A language file as dotted keys and their texts (`{one, other}` forms become `key.one`, …).
fn load(lang: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let path = web_dir().join("i18n").join(format!("{lang}.json"));
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let tree: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let mut out = BTreeMap::new();
    flatten("", &tree, &mut out)
        .with_context(|| format!("{} has a value that is not text", path.display()))?;
    Ok(out)
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out)?;
            }
            Ok(())
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
            Ok(())
        }
        other => bail!("{prefix}: {other}"),
    }
}

/// Every `name="value"` of the given attributes in a text.
fn attribute_values(text: &str, attributes: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for attribute in attributes {
        let needle = format!("{attribute}=\"");
        let mut rest = text;
        while let Some(i) = rest.find(&needle) {
            rest = &rest[i + needle.len()..];
            if let Some(end) = rest.find('"') {
                out.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    out
}

/// The literal keys of `t('…')` and `tn('…')` calls in a script.
fn script_keys(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    for call in ["t('", "tn('"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(call) {
            let at = from + i;
            from = at + call.len();
            // `t(` must be a call of its own, not the end of another name (`get(`, `set(`).
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || b"_$.".contains(&bytes[at - 1]))
            {
                continue;
            }
            if let Some(end) = text[from..].find('\'') {
                out.push(text[from..from + end].to_string());
            }
        }
    }
    out
}

/// A key is known when it is a text or a group of texts (`{one, other}` forms).
fn known(english: &BTreeMap<String, String>, key: &str) -> bool {
    english.contains_key(key)
        || english
            .range(format!("{key}.")..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&format!("{key}.")))
}

fn files(dir: &Path, ext: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    Ok(out)
}

#[test]
fn language_files_agree_with_each_other_and_the_pages() -> anyhow::Result<()> {
    let english = load("en")?;
    assert!(english.len() > 300, "en.json has {} texts", english.len());
    let keys: BTreeSet<&String> = english.keys().collect();
    let mut problems = Vec::new();
    for lang in LANGUAGES {
        let table = load(lang)?;
        let other: BTreeSet<&String> = table.keys().collect();
        for k in keys.difference(&other) {
            problems.push(format!("{lang}.json lacks {k}"));
        }
        for k in other.difference(&keys) {
            problems.push(format!("{lang}.json has {k}, which en.json lacks"));
        }
        for (k, v) in &table {
            if v.trim().is_empty() {
                problems.push(format!("{lang}.json: {k} is empty"));
            }
            // Placeholders must survive translation.
            if let Some(en) = english.get(k) {
                let wanted: BTreeSet<String> = placeholders(en);
                let found: BTreeSet<String> = placeholders(v);
                if wanted != found {
                    problems.push(format!(
                        "{lang}.json: {k} has placeholders {found:?}, English has {wanted:?}"
                    ));
                }
            }
        }
    }

    let mut used = Vec::new();
    for html in files(&web_dir(), "html")? {
        let text = std::fs::read_to_string(&html)?;
        let name = html.file_name().unwrap_or_default().to_string_lossy();
        for key in attribute_values(
            &text,
            &["data-text", "data-label", "data-placeholder", "data-title"],
        ) {
            used.push((name.to_string(), key));
        }
    }
    for js in files(&web_dir().join("js"), "js")? {
        let text = std::fs::read_to_string(&js)?;
        let name = js.file_name().unwrap_or_default().to_string_lossy();
        for key in script_keys(&text) {
            used.push((format!("js/{name}"), key));
        }
    }
    assert!(used.len() > 200, "only {} keys found in use", used.len());
    for (file, key) in &used {
        if !known(&english, key) {
            problems.push(format!("{file} uses {key}, which en.json lacks"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        rest = &rest[i + 1..];
        if let Some(end) = rest.find('}') {
            let name = &rest[..end];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                out.insert(name.to_string());
            }
            rest = &rest[end..];
        }
    }
    out
}

/// Waits for the page's strings, then checks its language and that nothing was missing.
async fn check_page(
    b: &mut Browser,
    page: &Page,
    lang: &str,
    what: &str,
    key: &str,
    tables: &BTreeMap<&str, BTreeMap<String, String>>,
) -> anyhow::Result<()> {
    b.wait_for(
        page,
        "!!(window.lecternI18n && window.lecternI18n.ready)",
        LONG,
    )
    .await
    .with_context(|| format!("{what} in {lang}"))?;
    let expected = &tables[lang][key];
    let js = format!(
        "(() => {{ const el = document.querySelector('[data-text=\"{key}\"]'); \
         return document.documentElement.lang === {lang:?} && !!el && el.textContent === {expected:?}; }})()"
    );
    b.wait_for(page, &js, LONG)
        .await
        .with_context(|| format!("{what} in {lang}: {key} shows {expected:?}"))?;
    if lang != "en" {
        assert_ne!(
            expected, &tables["en"][key],
            "{key} is not translated into {lang}"
        );
    }
    let missing = b
        .eval(page, "JSON.stringify(window.lecternI18n.missing)")
        .await?;
    assert_eq!(
        missing,
        Value::String("[]".into()),
        "{what} in {lang}: missing keys"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_every_language() -> anyhow::Result<()> {
    let mut tables = BTreeMap::new();
    for lang in LANGUAGES {
        tables.insert(lang, load(lang)?);
    }
    let t = TestServer::start().await?;
    let s = t.session.clone();
    let base = t.http_url();
    let mut b = Browser::launch().await?;

    let pages = [
        ("start", format!("{base}/"), "start.open.heading"),
        (
            "watch",
            format!("{base}/watch/{}#k={}", s.id, s.participant_key),
            "consent.heading",
        ),
        (
            "facilitate",
            format!("{base}/facilitate/{}#k={}", s.id, s.facilitator_key),
            "facilitate.devices.heading",
        ),
        ("library", format!("{base}/recordings"), "library.heading"),
        (
            "replay",
            format!("{base}/replay/00000000-0000-4000-8000-000000000000"),
            "replay.backToLibrary",
        ),
        (
            "display",
            format!("{base}/display/{}#k={}", s.id, s.display_key),
            "display.start",
        ),
        (
            "course",
            format!("{base}/course#k={}", s.participant_key),
            "course.who.heading",
        ),
        (
            "admin",
            format!("{base}/admin#k={}", t.key(Role::Admin)),
            "admin.courses.heading",
        ),
    ];
    for lang in LANGUAGES {
        // A saved choice, as the switch leaves it.
        let script =
            format!("try {{ localStorage.setItem('lectern.lang', {lang:?}); }} catch (e) {{}}");
        for (what, url, key) in &pages {
            let page = b.open_with_script(url, &script).await?;
            check_page(&mut b, &page, lang, what, key, &tables).await?;
            if *what == "course" || *what == "admin" {
                // Loaded, the page draws its own texts: still nothing missing.
                b.wait_for(&page, "document.body.dataset.state === 'ready'", LONG)
                    .await
                    .with_context(|| format!("{what} in {lang} loads"))?;
                let missing = b
                    .eval(&page, "JSON.stringify(window.lecternI18n.missing)")
                    .await?;
                assert_eq!(
                    missing,
                    Value::String("[]".into()),
                    "loaded {what} page in {lang}"
                );
            }
            if *what == "watch" {
                // Joined, the page draws its session texts: still nothing missing.
                b.eval(&page, "document.getElementById('join').click(); true")
                    .await?;
                b.wait_for(
                    &page,
                    "['waiting', 'live', 'paused'].includes(document.body.dataset.state)",
                    LONG,
                )
                .await?;
                b.wait_for(
                    &page,
                    "!document.getElementById('social').hidden && document.getElementById('chat-counter').textContent !== ''",
                    LONG,
                )
                .await?;
                let missing = b
                    .eval(&page, "JSON.stringify(window.lecternI18n.missing)")
                    .await?;
                assert_eq!(
                    missing,
                    Value::String("[]".into()),
                    "joined watch page in {lang}"
                );
            }
            b.close(&page).await?;
        }
    }

    // The switch: English by default (the browser speaks English), then Dutch at once, kept for
    // the next page.
    let page = b
        .open_with_script(
            &format!("{base}/"),
            "try { localStorage.removeItem('lectern.lang'); } catch (e) {}",
        )
        .await?;
    check_page(&mut b, &page, "en", "start", "start.open.heading", &tables).await?;
    b.eval(
        &page,
        "(() => { const s = document.getElementById('lang-select'); s.value = 'nl'; \
         s.dispatchEvent(new Event('change')); return true; })()",
    )
    .await?;
    check_page(
        &mut b,
        &page,
        "nl",
        "start after the switch",
        "start.open.heading",
        &tables,
    )
    .await?;
    let label = b
        .eval(
            &page,
            "document.querySelector('label[for=\"lang-select\"]').textContent",
        )
        .await?;
    assert_eq!(
        label,
        Value::String(tables["nl"]["common.language"].clone())
    );
    let next = b.open(&format!("{base}/recordings")).await?;
    check_page(
        &mut b,
        &next,
        "nl",
        "library after the switch",
        "library.heading",
        &tables,
    )
    .await?;
    b.quit().await;
    Ok(())
}
