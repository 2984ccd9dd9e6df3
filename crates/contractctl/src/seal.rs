//! How `contractctl audit setup-keys` shows a new verification key: once, as text and as a
//! QR code in the terminal, with what the admin is to do with it. (Writing the sealing-key file
//! and verifying a store offline live in the binary, which may read the store.)

/// The key as a QR code in Unicode half blocks, light on dark so that it scans on a terminal
/// with a dark background (the quiet zone is drawn light).
pub fn qr_code(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .build(),
    )
}

/// Prints a new verification key once, with what to do with it.
pub fn show_key(key: &str, interval_secs: Option<u64>, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({ "verification_key": key, "interval_seconds": interval_secs })
        );
        return;
    }
    println!("The audit log's verification key:\n\n    {key}\n");
    if let Some(code) = qr_code(key) {
        println!("{code}");
    }
    let every = interval_secs.map_or_else(
        || "each epoch ([audit] seal_interval_seconds)".to_string(),
        |secs| format!("every {}", human_interval(secs)),
    );
    println!(
        "Write this key down or scan the code now: it is shown only this once and this host does not keep it.\n\
         Keep it somewhere other than this host. The daemon seals the audit log {every} with a key\n\
         that changes each time and forgets the old one, so whoever takes this host later cannot change\n\
         sealed records without it showing. To check the log, as root here or on a copy of the store:\n\n\
         \x20   contractctl audit verify --key -          (then type or paste the key)\n\
         \x20   contractctl audit verify --key - --store COPY-OF-contracts.db\n\n\
         A failure names the first record or seal that does not verify: the log was changed after it\n\
         was sealed, or seals were removed. Records newer than the last seal are not yet protected."
    );
}

fn human_interval(secs: u64) -> String {
    if secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}
