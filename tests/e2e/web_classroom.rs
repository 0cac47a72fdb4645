//! The classroom parts of the web client against the real server, in headless Chromium: chat
//! and questions between a participant and the facilitator, votes, marking, and the room display
//! showing the top question.

use lectern_e2e::TestServer;
use lectern_testkit::browser::{Browser, Page};

use crate::pages::{join_participant, LONG};

async fn fill_and_submit(
    b: &mut Browser,
    p: &Page,
    form: &str,
    input: &str,
    text: &str,
) -> anyhow::Result<()> {
    b.eval(
        p,
        &format!(
            "document.getElementById({input:?}).value = {text:?}; \
             document.getElementById({form:?}).requestSubmit(); true"
        ),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_questions_and_the_room_display_in_chromium() -> anyhow::Result<()> {
    let t = TestServer::start().await?;
    let s = t.session.clone();
    let base = t.http_url();
    let mut b = Browser::launch().await?;

    let fac = crate::pages::open_facilitator(&mut b, &t).await?;
    let p = join_participant(
        &mut b,
        &format!("{base}/watch/{}#k={}", s.id, s.participant_key),
        "Officer Ramdial",
    )
    .await?;
    b.wait_for(&p, "window.lecternClient.connectionState === 'connected' && !document.getElementById('social').hidden", LONG)
        .await?;
    // The participant accepted the notice: the join carried it.
    let consent = b.eval(&p, "window.lecternClient.consent").await?;
    assert_eq!(consent, serde_json::json!("2026-11"));

    // The facilitator sees the participant in the list, with the moderation actions.
    b.wait_for(
        &fac,
        "[...document.querySelectorAll('#people-list .person')].some(li => li.textContent.includes('Officer Ramdial') && li.querySelector('[data-action=\"stage-on\"]'))",
        LONG,
    )
    .await?;

    // Chat both ways; the list is a live region.
    fill_and_submit(
        &mut b,
        &p,
        "chat-form",
        "chat-input",
        "Good morning from Port of Spain",
    )
    .await?;
    b.wait_for(&fac, "document.getElementById('chat-list').textContent.includes('Good morning from Port of Spain')", LONG)
        .await?;
    assert_eq!(
        b.eval(
            &fac,
            "document.getElementById('chat-list').getAttribute('aria-live')"
        )
        .await?,
        serde_json::json!("polite")
    );
    fill_and_submit(&mut b, &fac, "chat-form", "chat-input", "Welcome, everyone").await?;
    b.wait_for(
        &p,
        "document.getElementById('chat-list').textContent.includes('Welcome, everyone')",
        LONG,
    )
    .await?;
    // Too long never leaves the page: the form says so inline.
    b.eval(
        &p,
        "document.getElementById('chat-input').maxLength = 10000; true",
    )
    .await?;
    fill_and_submit(&mut b, &p, "chat-form", "chat-input", &"x".repeat(501)).await?;
    b.wait_for(&p, "!document.getElementById('chat-error').hidden", LONG)
        .await?;

    // The room display starts with one press and shows the question once asked.
    let display = b
        .open(&format!("{base}/display/{}#k={}", s.id, s.display_key))
        .await?;
    b.wait_for(
        &display,
        "!!window.lecternClient && !!window.lecternI18n && window.lecternI18n.ready",
        LONG,
    )
    .await?;
    b.eval(&display, "document.getElementById('start').click(); true")
        .await?;
    b.wait_for(
        &display,
        "window.lecternClient.connectionState === 'connected'",
        LONG,
    )
    .await?;
    assert_eq!(
        b.eval(&display, "document.getElementById('display-audio').muted && document.getElementById('sound-hint').dataset.sound").await?,
        serde_json::json!("off")
    );

    fill_and_submit(
        &mut b,
        &p,
        "qa-form",
        "qa-input",
        "How are seizures recorded?",
    )
    .await?;
    b.wait_for(
        &fac,
        "document.getElementById('qa-list').textContent.includes('How are seizures recorded?')",
        LONG,
    )
    .await?;
    b.wait_for(&display, "document.getElementById('display-questions').textContent.includes('How are seizures recorded?')", LONG)
        .await?;

    // The facilitator upvotes it (a toggle), then marks it answered: it leaves the display.
    b.eval(
        &fac,
        "document.querySelector('#qa-list [data-action=\"vote\"]').click(); true",
    )
    .await?;
    b.wait_for(
        &p,
        "document.querySelector('#qa-list .question-votes').dataset.votes === '1'",
        LONG,
    )
    .await?;
    b.wait_for(&fac, "document.querySelector('#qa-list [data-action=\"vote\"]').getAttribute('aria-pressed') === 'true'", LONG)
        .await?;
    b.eval(
        &fac,
        "document.querySelector('#qa-list [data-action=\"mark-answered\"]').click(); true",
    )
    .await?;
    b.wait_for(
        &p,
        "document.querySelector('#qa-list .question').dataset.state === 'answered'",
        LONG,
    )
    .await?;
    b.wait_for(
        &display,
        "!document.getElementById('display-questions-empty').hidden",
        LONG,
    )
    .await?;

    // A raised hand shows on the facilitator's list and the display.
    b.eval(&p, "document.getElementById('raise-hand').click(); true")
        .await?;
    b.wait_for(
        &fac,
        "!!document.querySelector('#people-list .person[data-hand=\"true\"]')",
        LONG,
    )
    .await?;
    b.wait_for(
        &display,
        "document.getElementById('display-hands').textContent.includes('Officer Ramdial')",
        LONG,
    )
    .await?;
    b.eval(
        &fac,
        "document.querySelector('#people-list [data-action=\"lower-hand\"]').click(); true",
    )
    .await?;
    b.wait_for(
        &p,
        "document.getElementById('raise-hand').getAttribute('aria-pressed') === 'false'",
        LONG,
    )
    .await?;

    for page in [&fac, &p, &display] {
        let missing = b
            .eval(page, "JSON.stringify(window.lecternI18n.missing)")
            .await?;
        assert_eq!(missing, serde_json::json!("[]"));
    }
    b.quit().await;
    Ok(())
}
