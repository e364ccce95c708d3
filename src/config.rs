//! The one configuration: TOML file + CLI flags, validated once into typed core configs.
