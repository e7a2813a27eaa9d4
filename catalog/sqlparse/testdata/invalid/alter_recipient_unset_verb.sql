ALTER RECIPIENT acme UNSET ('country')
