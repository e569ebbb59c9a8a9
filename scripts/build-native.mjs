// Placeholder: builds the oneDNN addon once it exists.
console.log('covidnet: native backend not part of this build yet');
