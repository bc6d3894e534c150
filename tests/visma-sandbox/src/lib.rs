//! visma-sandbox
