module dropp/openapicheck

go 1.26.0
