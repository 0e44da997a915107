use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = brokergraph::cli::Cli::parse();
    let exporting = match brokergraph::cli::init_tracing(&cli) {
        Ok(exporting) => exporting,
        Err(error) => {
            eprintln!("error: {error:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = brokergraph::cli::run(cli).await;
    // After the drain: the spans of the last requests are sent before the process ends.
    if let Some(exporting) = exporting {
        exporting.shutdown();
    }
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
