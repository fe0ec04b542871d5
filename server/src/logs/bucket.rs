//! The shared log bucket's flags, the same for the node agents and the console.

/// Where the shared log store lives. Credentials come from `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY` (a Secret in the pod's environment; Rook-Ceph's
/// ObjectBucketClaim makes exactly that Secret).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BucketArgs {
    /// `s3://<bucket>/<prefix>`: node agents ship their stores there and consoles read
    /// them [default: no bucket; the console collects logs itself into --logs].
    #[arg(long = "log-bucket", env = "WHARF_LOG_BUCKET")]
    pub url: Option<String>,
    /// The S3 endpoint when it is not AWS: Ceph RGW, MinIO, SeaweedFS
    /// (`http://rook-ceph-rgw-logs.rook-ceph:80`).
    #[arg(long = "log-bucket-endpoint", env = "WHARF_LOG_BUCKET_ENDPOINT")]
    pub endpoint: Option<String>,
    /// The bucket's region [default: AWS_REGION, else us-east-1].
    #[arg(long = "log-bucket-region", env = "WHARF_LOG_BUCKET_REGION")]
    pub region: Option<String>,
    /// Access key and secret given in code (tests); flags never take secrets.
    #[arg(skip)]
    pub keys: Option<(String, String)>,
}

impl BucketArgs {
    /// The bucket, if one is set.
    pub fn connect(&self) -> anyhow::Result<Option<logship::Bucket>> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let settings = logship::BucketSettings {
            url: url.clone(),
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            access_key_id: self.keys.as_ref().map(|k| k.0.clone()),
            secret_access_key: self.keys.as_ref().map(|k| k.1.clone()),
        };
        Ok(Some(logship::Bucket::connect(&settings)?))
    }
}
