"""One job: train a prepared run and write its rows, or report its partition."""
