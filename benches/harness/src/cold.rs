pub async fn run(_runs: usize) {}
