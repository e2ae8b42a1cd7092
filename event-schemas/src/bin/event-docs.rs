//! Prints a document generated from the registry: `event-docs asyncapi`
//! (AsyncAPI 3 JSON) or `event-docs catalogue` (Markdown).

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("asyncapi") => {
            match serde_json::to_string_pretty(&event_schemas::documents::asyncapi()) {
                Ok(text) => println!("{text}"),
                Err(error) => {
                    eprintln!("cannot render the AsyncAPI document: {error}");
                    std::process::exit(1);
                }
            }
        }
        Some("catalogue") => print!("{}", event_schemas::documents::catalogue()),
        _ => {
            eprintln!("usage: event-docs asyncapi|catalogue");
            std::process::exit(2);
        }
    }
}
