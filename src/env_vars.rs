//! Every environment variable `af` reads, declared once.
//!
//! `AF_*` names mirror the long flags. Established third-party names (`RUST_LOG`, `NO_COLOR`,
//! and later `R2_*`, `CHUTES_API_KEY`, ...) are accepted as they are.

/// Log format on stderr: `text` or `json` (`--log-format`).
pub const AF_LOG_FORMAT: &str = "AF_LOG_FORMAT";
/// Replay directory for `af weights` (`--replay`).
pub const AF_REPLAY_DIR: &str = "AF_REPLAY_DIR";
/// Threads used to parse result shards (`--parse-threads`).
pub const AF_PARSE_THREADS: &str = "AF_PARSE_THREADS";
/// Set to any value to skip loading `.env` from the working directory.
pub const AF_NO_DOTENV: &str = "AF_NO_DOTENV";
/// Hugging Face token, sent to the Hub host only (`--hf-token`).
pub const HF_TOKEN: &str = "HF_TOKEN";
/// Hugging Face Hub base URL (`--hf-endpoint`), as `huggingface_hub` names it.
pub const HF_ENDPOINT: &str = "HF_ENDPOINT";
/// Files downloaded at once by `af hub download` (`--concurrency`).
pub const AF_HUB_CONCURRENCY: &str = "AF_HUB_CONCURRENCY";
/// Local store folder used without R2 credentials (`--store-dir`).
pub const AF_STORE_DIR: &str = "AF_STORE_DIR";
/// Base URL of the public results bucket (`--r2-public-url`).
pub const AF_R2_PUBLIC_URL: &str = "AF_R2_PUBLIC_URL";
/// Never read the public bucket when the private index is sparse (`--no-public-fallback`).
pub const AF_NO_PUBLIC_FALLBACK: &str = "AF_NO_PUBLIC_FALLBACK";
/// Shard downloads in flight at once (`--download-concurrency`).
pub const AF_DOWNLOAD_CONCURRENCY: &str = "AF_DOWNLOAD_CONCURRENCY";
/// Total seconds one result-store request may take, retries and `Retry-After` waits included.
pub const AF_STORE_TIMEOUT: &str = "AF_STORE_TIMEOUT";
/// R2 bucket name (the original's name).
pub const R2_FOLDER: &str = "R2_FOLDER";
/// Cloudflare account id of the R2 endpoint (the original's name).
pub const R2_BUCKET_ID: &str = "R2_BUCKET_ID";
/// Alias of `R2_BUCKET_ID` (the original's name).
pub const R2_ACCOUNT_ID: &str = "R2_ACCOUNT_ID";
/// Explicit S3 endpoint URL, e.g. a local S3 server.
pub const R2_ENDPOINT_URL: &str = "R2_ENDPOINT_URL";
/// R2 access key id (the original's name).
pub const R2_WRITE_ACCESS_KEY_ID: &str = "R2_WRITE_ACCESS_KEY_ID";
/// R2 secret access key (the original's name).
pub const R2_WRITE_SECRET_ACCESS_KEY: &str = "R2_WRITE_SECRET_ACCESS_KEY";
/// `1` to read through the public bucket URL (the original's name).
pub const AFFINE_R2_PUBLIC: &str = "AFFINE_R2_PUBLIC";
/// Shard cache folder (the original's name).
pub const AFFINE_CACHE_DIR: &str = "AFFINE_CACHE_DIR";
/// Standard tracing filter; overrides `-v` when set.
pub const RUST_LOG: &str = "RUST_LOG";
/// Environment id for `af eval` (`--env`).
pub const AF_ENV: &str = "AF_ENV";
/// Model name for `af eval` (`--model`).
pub const AF_MODEL: &str = "AF_MODEL";
/// OpenAI-compatible base URL for `af eval` (`--base-url`).
pub const AF_BASE_URL: &str = "AF_BASE_URL";
/// Concurrent evaluations of `af eval` (`--concurrency`).
pub const AF_CONCURRENCY: &str = "AF_CONCURRENCY";
/// Model call timeout in seconds for `af eval` (`--timeout`).
pub const AF_TIMEOUT: &str = "AF_TIMEOUT";
/// Python interpreter for ABD/DED programs (`--python`).
pub const AF_PYTHON: &str = "AF_PYTHON";
/// Local dataset directory in the R2 layout (`--dataset-dir`).
pub const AF_DATASET_DIR: &str = "AF_DATASET_DIR";
/// Listen address of `af env serve` (`--host`).
pub const AF_HOST: &str = "AF_HOST";
/// Listen port of `af env serve` (`--port`).
pub const AF_PORT: &str = "AF_PORT";
/// `af env serve`: seconds a connection may take to send a request head or body, or sit idle.
pub const AF_IDLE_TIMEOUT: &str = "AF_IDLE_TIMEOUT";
/// The LLM bearer key, as the reference environment image read it (`--api-key`).
pub const CHUTES_API_KEY: &str = "CHUTES_API_KEY";
/// Public R2 base URL of the ABD/DED dataset, as the reference image read it (`--dataset-url`).
pub const R2_PUBLIC_BASE: &str = "R2_PUBLIC_BASE";
/// Dataset cache directory, as the reference image read it (`--dataset-cache`).
pub const DATASET_CACHE_DIR: &str = "DATASET_CACHE_DIR";
/// Wallet (coldkey) name (`--wallet.name`), as the original affine `.env`.
pub const BT_WALLET_COLD: &str = "BT_WALLET_COLD";
/// Hotkey name (`--wallet.hotkey`), as the original affine `.env`.
pub const BT_WALLET_HOT: &str = "BT_WALLET_HOT";
/// Wallets directory (`--wallet.path`), as bittensor-wallet reads it.
pub const BT_WALLET_PATH: &str = "BT_WALLET_PATH";
/// Password of `$NACL`-encrypted keyfiles; when unset, `af` prompts on a terminal.
pub const AF_WALLET_PASSWORD: &str = "AF_WALLET_PASSWORD";
/// Home directory, for the default wallets directory `~/.bittensor/wallets`.
pub const HOME: &str = "HOME";
/// Subtensor endpoint: `finney`, `test`, `local` or a URL (`--subtensor-endpoint`), as the
/// original affine.
pub const SUBTENSOR_ENDPOINT: &str = "SUBTENSOR_ENDPOINT";
/// Endpoint tried when the primary fails (`--subtensor-fallback`), as the original affine.
pub const SUBTENSOR_FALLBACK: &str = "SUBTENSOR_FALLBACK";
/// Deadline of one chain call in seconds (`--chain-timeout`).
pub const AF_CHAIN_TIMEOUT: &str = "AF_CHAIN_TIMEOUT";
/// Subnet to read (`--netuid`).
pub const AF_NETUID: &str = "AF_NETUID";
/// Blocks of history `af weights -r` scores when it reads the chain (`--tail`).
pub const AF_TAIL: &str = "AF_TAIL";
/// Drand beacon public key commitments and commit-reveal weights are encrypted to
/// (`--drand-public-key`); default quicknet.
pub const AF_DRAND_PUBLIC_KEY: &str = "AF_DRAND_PUBLIC_KEY";
/// Weight-setting attempts in all (`--signer-retries`), as the original affine.
pub const SIGNER_RETRIES: &str = "SIGNER_RETRIES";
/// Seconds between weight-setting attempts (`--signer-retry-delay`), as the original affine.
pub const SIGNER_RETRY_DELAY: &str = "SIGNER_RETRY_DELAY";
/// Blocks waited before checking `LastUpdate` (`--confirmation-blocks`), as the original affine.
pub const CONFIRMATION_BLOCKS: &str = "CONFIRMATION_BLOCKS";
/// Docker engine address (`unix://…`, `tcp://…`), as the Docker CLI reads it.
pub const DOCKER_HOST: &str = "DOCKER_HOST";
/// Environment image `af eval` runs in a container (`--image`).
pub const AF_IMAGE: &str = "AF_IMAGE";
/// URL of an already running environment server for `af eval` (`--env-url`).
pub const AF_ENV_URL: &str = "AF_ENV_URL";
/// Docker network mode of environment containers (`--docker-network`, e.g. `host`).
pub const AF_DOCKER_NETWORK: &str = "AF_DOCKER_NETWORK";
/// Docker hosts of environment containers, comma-separated `localhost` / `ssh://user@host[:port]`
/// (`--hosts`), one replica per host.
pub const AFFINETES_HOSTS: &str = "AFFINETES_HOSTS";
/// Identity file `ssh` uses for `ssh://` Docker hosts (`--ssh-identity`).
pub const AF_SSH_IDENTITY: &str = "AF_SSH_IDENTITY";
/// Host-key policy for `ssh://` Docker hosts: accept-new, strict or off (`--ssh-host-keys`).
pub const AF_SSH_HOST_KEYS: &str = "AF_SSH_HOST_KEYS";
/// Known-hosts file for `ssh://` Docker hosts (`--ssh-known-hosts`).
pub const AF_SSH_KNOWN_HOSTS: &str = "AF_SSH_KNOWN_HOSTS";
/// Number of environment containers (`--replicas`).
pub const AF_REPLICAS: &str = "AF_REPLICAS";
/// Memory limit of each environment container (`--mem-limit`, e.g. `10g`).
pub const AF_MEM_LIMIT: &str = "AF_MEM_LIMIT";
/// Which affine task an environment container serves, as the reference validator set it.
pub const ENV_NAME: &str = "ENV_NAME";
/// `TODO_KEY` passed to `AgentGym` containers, as the reference validator read it.
pub const AGENTGYM_TOOL_TODO_KEY: &str = "AGENTGYM_TOOL_TODO_KEY";
/// `MOVIE_KEY` passed to `AgentGym` containers, as the reference validator read it.
pub const AGENTGYM_TOOL_MOVIE_KEY: &str = "AGENTGYM_TOOL_MOVIE_KEY";
/// `SHEET_EMAIL` passed to `AgentGym` containers, as the reference validator read it.
pub const AGENTGYM_TOOL_SHEET_EMAIL: &str = "AGENTGYM_TOOL_SHEET_EMAIL";
/// Comma-separated hotkeys never sampled (`--blacklist`), as the original affine.
pub const AFFINE_MINER_BLACKLIST: &str = "AFFINE_MINER_BLACKLIST";
/// Hub and Chutes lookups in flight during miner discovery (`--concurrency`), as the original.
pub const AFFINE_META_CONCURRENCY: &str = "AFFINE_META_CONCURRENCY";
/// Chutes management API base URL (`--chutes-api-url`), as the chutes SDK reads it.
pub const CHUTES_API_URL: &str = "CHUTES_API_URL";
/// A miner's OpenAI-compatible base URL as a template over its chute slug (`--inference-url-template`);
/// default `https://{slug}.chutes.ai/v1`. A devnet or private gateway routes miners elsewhere.
pub const AF_INFERENCE_URL_TEMPLATE: &str = "AF_INFERENCE_URL_TEMPLATE";
/// Chutes username that names deployed chutes (`--chute-user`), as the original affine.
pub const CHUTE_USER: &str = "CHUTE_USER";
/// The chutes SDK's config file (`--chutes-config`), default `~/.chutes/config.ini`.
pub const CHUTES_CONFIG_PATH: &str = "CHUTES_CONFIG_PATH";
/// Directory of `af devnet` (`--dir`).
pub const AF_DEVNET_DIR: &str = "AF_DEVNET_DIR";
/// Listen address of `af devnet` (`--host`).
pub const AF_DEVNET_HOST: &str = "AF_DEVNET_HOST";
/// Chain node port of `af devnet`; the other services take the next five (`--port`).
pub const AF_DEVNET_PORT: &str = "AF_DEVNET_PORT";
/// Time between devnet blocks (`--block-time`).
pub const AF_DEVNET_BLOCK_TIME: &str = "AF_DEVNET_BLOCK_TIME";
/// Devnet miner policies (`--miners`).
pub const AF_DEVNET_MINERS: &str = "AF_DEVNET_MINERS";
/// The signer service's base URL for `af validate` and the runner, as the original affine.
pub const SIGNER_URL: &str = "SIGNER_URL";
/// Interface `af signer` listens on (`--host`), as the original affine; default loopback.
pub const SIGNER_HOST: &str = "SIGNER_HOST";
/// Port `af signer` listens on (`--port`), as the original affine.
pub const SIGNER_PORT: &str = "SIGNER_PORT";
/// Blocks between weight sets of `af validate` (`--interval`), as later upstream names it.
pub const WEIGHT_SET_INTERVAL_BLOCKS: &str = "WEIGHT_SET_INTERVAL_BLOCKS";
/// Seconds without progress before `af validate` exits 1 (`--watchdog-timeout`).
pub const AFFINE_VALIDATOR_WATCHDOG_TIMEOUT: &str = "AFFINE_VALIDATOR_WATCHDOG_TIMEOUT";
/// `true`, `1` or `yes`: `af validate` takes the weights from a published `latest.json`, as the
/// original affine.
pub const USE_R2_WEIGHTS: &str = "USE_R2_WEIGHTS";
/// URL of the `latest.json` R2-weights mode reads (`--r2-weights-url`).
pub const AFFINE_R2_WEIGHTS_URL: &str = "AFFINE_R2_WEIGHTS_URL";
/// Oldest `latest.json` R2-weights mode accepts, in blocks (`--r2-weights-max-age`).
pub const AFFINE_R2_WEIGHTS_MAX_AGE: &str = "AFFINE_R2_WEIGHTS_MAX_AGE";
/// Bearer token of the signer: required by `af signer` on any interface but loopback, sent by
/// its clients. Read from the environment only (never a flag, so it stays out of `ps`).
pub const SIGNER_TOKEN: &str = "SIGNER_TOKEN";
/// Seconds a stop waits for the work in flight of a long-running service (`--grace` of
/// `af runner`, `af validate` and `af signer`).
pub const AF_STOP_GRACE: &str = "AF_STOP_GRACE";
/// Where `af runner` runs the environments: docker, url or native (`--env-backend`).
pub const AF_ENV_BACKEND: &str = "AF_ENV_BACKEND";
/// Environments `af runner` samples, comma-separated (`--envs`).
pub const AF_ENVS: &str = "AF_ENVS";
/// `ENV=URL` pairs of `af runner --env-backend url` (`--env-url`).
pub const AF_ENV_URLS: &str = "AF_ENV_URLS";
/// `ENV=IMAGE` overrides of `af runner --env-backend docker` (`--image`).
pub const AF_ENV_IMAGES: &str = "AF_ENV_IMAGES";
/// Seconds between `af runner` sampling events, overriding 86400 / range (`--task-interval`).
pub const AF_TASK_INTERVAL: &str = "AF_TASK_INTERVAL";
/// Outer deadline of one `af runner` evaluation in seconds (`--call-deadline`).
pub const AF_CALL_DEADLINE: &str = "AF_CALL_DEADLINE";
/// The runner's durable result spool (`--spool`).
pub const AF_SPOOL: &str = "AF_SPOOL";
/// The runner's sampling state file (`--state-file`).
pub const AF_SAMPLING_STATE: &str = "AF_SAMPLING_STATE";
/// Service errors of a miner closer together than this count once (`--service-error-window`).
pub const AF_SERVICE_ERROR_WINDOW: &str = "AF_SERVICE_ERROR_WINDOW";
/// Workers per environment, as the original (`--workers-per-env`).
pub const AFFINE_WORKERS_PER_ENV: &str = "AFFINE_WORKERS_PER_ENV";
/// Queue capacity per environment, as the original (`--queue-max-size-per-env`).
pub const AFFINE_QUEUE_MAX_SIZE_PER_ENV: &str = "AFFINE_QUEUE_MAX_SIZE_PER_ENV";
/// The original's per-miner buffer size; accepted (`--batch-size`).
pub const AFFINE_BATCH_SIZE: &str = "AFFINE_BATCH_SIZE";
/// Results per upload, as the original (`--sink-batch-size`).
pub const AFFINE_SINK_BATCH_SIZE: &str = "AFFINE_SINK_BATCH_SIZE";
/// Seconds before a smaller upload, as the original (`--sink-max-wait`).
pub const AFFINE_SINK_MAX_WAIT: &str = "AFFINE_SINK_MAX_WAIT";
/// Seconds between miner discovery passes, as the original (`--miner-refresh-interval`).
pub const AFFINE_MINER_REFRESH_INTERVAL: &str = "AFFINE_MINER_REFRESH_INTERVAL";
/// A miner's first pause in seconds, as the original (`--chutes-error-pause-seconds`).
pub const AFFINE_CHUTES_ERROR_PAUSE_SECONDS: &str = "AFFINE_CHUTES_ERROR_PAUSE_SECONDS";
/// A miner's longest pause in seconds, as the original (`--max-pause-seconds`).
pub const AFFINE_MAX_PAUSE_SECONDS: &str = "AFFINE_MAX_PAUSE_SECONDS";
/// Pause on every M-th counted service error, as the original (`--max-consecutive-errors`).
pub const AFFINE_MAX_CONSECUTIVE_ERRORS: &str = "AFFINE_MAX_CONSECUTIVE_ERRORS";
/// Seconds without progress before the runner's watchdog fires, as the original.
pub const AFFINE_WATCHDOG_TIMEOUT: &str = "AFFINE_WATCHDOG_TIMEOUT";
/// Blocks per result window, as the original (only 20 is accepted).
pub const AFFINE_WINDOW: &str = "AFFINE_WINDOW";
/// The original's HTTP connection limit; accepted.
pub const AFFINE_HTTP_CONCURRENCY: &str = "AFFINE_HTTP_CONCURRENCY";
