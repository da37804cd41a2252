"""Reports: the digest of a period (`digest`), rendered as Markdown, HTML and text
(`render`), e-mailed through the `Mailer` port with the period's CSV (`send`)."""
